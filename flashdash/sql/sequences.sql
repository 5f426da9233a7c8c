-- Follow-up sequences (cadences): definitions, enrollments, the steps that ran, what pauses them, results.
--
-- Scope: an enrollment is seen through its lead's current owner ($scope_all OR list_contains($scope_reps,
-- l.owner_id)), like the lead itself. A sequence is seen by the members and managers of its team, and a
-- store-wide one (team_id NULL) by everyone; $all_teams lifts that for admins, analysts and executives.

-- name: seq_actor_teams
-- The teams whose sequences a person uses: their own team and the teams they manage.
SELECT team_id AS id FROM reps WHERE id = $rep_id AND team_id IS NOT NULL
UNION
SELECT id FROM teams WHERE manager_id = $rep_id
ORDER BY id;

-- name: seq_team
SELECT id, name FROM teams WHERE id = $team_id;

-- name: seq_list
-- The sequences a person may use, with their steps and the enrollments in their scope.
WITH steps AS (
    SELECT sequence_id, count(*) AS steps, count(*) FILTER (WHERE kind = 'email') AS email_steps
    FROM sequence_steps WHERE position > 0 GROUP BY sequence_id
),
enrolled AS (
    SELECT e.sequence_id,
           count(*) FILTER (WHERE e.status = 'active') AS active_enrollments,
           count(*) FILTER (WHERE e.status = 'paused') AS paused_enrollments,
           count(*) FILTER (WHERE e.status = 'completed') AS completed_enrollments
    FROM sequence_enrollments e JOIN leads l ON l.id = e.lead_id
    WHERE $scope_all OR list_contains($scope_reps, l.owner_id)
    GROUP BY e.sequence_id
)
SELECT s.id, s.name, s.description, s.team_id, t.name AS team, s.pause_on, s.active,
       coalesce(st.steps, 0) AS steps, coalesce(st.email_steps, 0) AS email_steps,
       coalesce(en.active_enrollments, 0) AS active_enrollments,
       coalesce(en.paused_enrollments, 0) AS paused_enrollments,
       coalesce(en.completed_enrollments, 0) AS completed_enrollments,
       s.created_by, s.created_at
FROM sequences s
LEFT JOIN teams t ON t.id = s.team_id
LEFT JOIN steps st ON st.sequence_id = s.id
LEFT JOIN enrolled en ON en.sequence_id = s.id
WHERE $all_teams OR s.team_id IS NULL OR list_contains($teams, s.team_id)
ORDER BY s.team_id NULLS FIRST, lower(s.name), s.id;

-- name: seq_one
SELECT id, team_id, name, description, pause_on, active, created_by, created_at
FROM sequences WHERE id = $sequence_id;

-- name: seq_steps
-- A sequence's steps in order (position 0: removed from the sequence, kept for the history of its runs).
SELECT s.id, s.sequence_id, s.position, s.kind, s.day_offset, s.title, s.template_id,
       tpl.name AS template, tpl.active AS template_active
FROM sequence_steps s
LEFT JOIN email_templates tpl ON tpl.id = s.template_id
WHERE list_contains($sequence_ids, s.sequence_id) AND ($with_removed OR s.position > 0)
ORDER BY s.sequence_id, s.position = 0, s.position, s.id;

-- name: seq_templates
-- Email templates by id (whose team, whether turned on).
SELECT id, team_id, name, subject, body, active
FROM email_templates WHERE list_contains($template_ids, id);

-- name: seq_templates_named
-- Active email templates usable by a team's sequences (its own and the store-wide ones), for the starters.
SELECT id, team_id, lower(name) AS key, name
FROM email_templates
WHERE active AND (team_id IS NULL OR team_id IS NOT DISTINCT FROM $team_id)
ORDER BY team_id NULLS LAST, id;

-- name: seq_name_taken
SELECT id FROM sequences
WHERE team_id IS NOT DISTINCT FROM $team_id AND lower(name) = lower($seq_name)
  AND id IS DISTINCT FROM $sequence_id
LIMIT 1;

-- name: seq_insert
INSERT INTO sequences (id, team_id, name, description, pause_on, active, created_by, created_at)
VALUES (nextval('sequences_id_seq'), $team_id, $seq_name, $description, $pause_on, $active, $created_by, $created_at)
RETURNING id;

-- name: seq_update
UPDATE sequences SET team_id = $team_id, name = $seq_name, description = $description, pause_on = $pause_on,
                     active = $active
WHERE id = $sequence_id;

-- name: seq_step_insert
INSERT INTO sequence_steps (id, sequence_id, position, kind, day_offset, title, template_id)
VALUES (nextval('sequence_steps_id_seq'), $sequence_id, $position, $kind, $day_offset, $title, $template_id)
RETURNING id;

-- name: seq_step_update
UPDATE sequence_steps SET position = $position, kind = $kind, day_offset = $day_offset, title = $title,
                          template_id = $template_id
WHERE id = $step_id AND sequence_id = $sequence_id;

-- name: seq_step_history
-- The steps among $step_ids that something refers to (a run, a task, an email): those are kept when removed.
SELECT DISTINCT step_id FROM (
    SELECT step_id FROM sequence_step_runs WHERE list_contains($step_ids, step_id)
    UNION ALL SELECT step_id FROM tasks WHERE list_contains($step_ids, step_id)
    UNION ALL SELECT step_id FROM emails WHERE list_contains($step_ids, step_id)
);

-- name: seq_step_delete
DELETE FROM sequence_steps WHERE id = $step_id AND sequence_id = $sequence_id;

-- name: seq_step_retire
UPDATE sequence_steps SET position = 0 WHERE id = $step_id AND sequence_id = $sequence_id;

-- name: seq_enroll_leads
-- The requested leads: whether the acting user may see them, their stage, owner and contactability, and
-- whether they are already in this sequence (active or paused).
WITH wanted AS (SELECT DISTINCT unnest($lead_ids) AS id)
SELECT w.id AS lead_id, l.id IS NOT NULL AS found,
       l.id IS NOT NULL AND ($scope_all OR list_contains($scope_reps, l.owner_id)) AS in_scope,
       l.status, l.owner_id, coalesce(l.do_not_contact, false) AS do_not_contact,
       l.email IS NOT NULL AND trim(l.email) <> '' AS has_email,
       (SELECT min(e.id) FROM sequence_enrollments e
        WHERE e.lead_id = w.id AND e.sequence_id = $sequence_id AND e.status IN ('active', 'paused')) AS enrolled_id
FROM wanted w LEFT JOIN leads l ON l.id = w.id
ORDER BY w.id;

-- name: seq_enrollment_insert
INSERT INTO sequence_enrollments (id, sequence_id, lead_id, rep_id, enrolled_by, enrolled_at, status, status_reason,
                                  status_at, next_position, next_due_at)
VALUES (nextval('sequence_enrollments_id_seq'), $sequence_id, $lead_id, $rep_id, $enrolled_by, $enrolled_at,
        'active', NULL, $enrolled_at, 1, $next_due_at)
RETURNING id;

-- name: seq_enrollments_by_ids
-- The requested enrollments with whether the acting user may touch them, and their lead's stage.
WITH wanted AS (SELECT DISTINCT unnest($enrollment_ids) AS id)
SELECT w.id AS enrollment_id, e.id IS NOT NULL AS found,
       e.id IS NOT NULL AND ($scope_all OR list_contains($scope_reps, l.owner_id)) AS in_scope,
       e.sequence_id, e.lead_id, e.status, e.status_reason, e.status_at, e.enrolled_at, e.next_position,
       e.next_due_at, l.status AS lead_status, coalesce(s.active, false) AS sequence_active
FROM wanted w
LEFT JOIN sequence_enrollments e ON e.id = w.id
LEFT JOIN sequences s ON s.id = e.sequence_id
LEFT JOIN leads l ON l.id = e.lead_id
ORDER BY w.id;

-- name: seq_enrollment_set_status
-- Change an enrollment's status if it is still in the status the caller saw; returns its id when it changed.
UPDATE sequence_enrollments
SET status = $status, status_reason = $status_reason, status_at = $status_at, next_due_at = $next_due_at
WHERE id = $enrollment_id AND status = $expected_status
RETURNING id;

-- name: seq_enrollments_watched
-- Active enrollments (of the given leads, or every one when $every) with what decides whether they go on:
-- their sequence's pause_on and state, and their lead's stage and contactability.
SELECT e.id AS enrollment_id, e.sequence_id, e.lead_id, e.rep_id, e.enrolled_by, e.enrolled_at,
       coalesce(e.status_at, e.enrolled_at) AS since, e.next_position, e.next_due_at,
       s.name AS sequence, s.pause_on, s.active AS sequence_active,
       l.status AS lead_status, l.status_changed_at, l.owner_id, coalesce(l.do_not_contact, false) AS do_not_contact
FROM sequence_enrollments e
JOIN sequences s ON s.id = e.sequence_id
JOIN leads l ON l.id = e.lead_id
WHERE e.status = 'active' AND ($every OR list_contains($lead_ids, e.lead_id))
ORDER BY e.next_due_at NULLS LAST, e.id;

-- name: seq_pause_events
-- What happened to each enrollment's lead after the enrollment started or resumed (`since`) and up to $now:
-- replies (a reply event to any email to the lead, or a logged email whose outcome mentions "replied"),
-- stage changes, and meetings or demos logged or booked (a meeting or demo task not made by this enrollment).
WITH en AS (
    SELECT id AS enrollment_id, lead_id, coalesce(status_at, enrolled_at) AS since
    FROM sequence_enrollments WHERE list_contains($enrollment_ids, id)
)
SELECT en.enrollment_id, 'reply' AS trigger, ev.occurred_at AS at, 'email' AS source, CAST(NULL AS VARCHAR) AS detail
FROM en JOIN emails m ON m.lead_id = en.lead_id
JOIN email_events ev ON ev.email_id = m.id AND ev.kind = 'reply'
WHERE ev.occurred_at > en.since AND ev.occurred_at <= $now
UNION ALL
SELECT en.enrollment_id, 'reply', a.occurred_at, 'activity', a.outcome
FROM en JOIN activities a ON a.lead_id = en.lead_id AND a.type = 'email' AND a.outcome ILIKE '%replied%'
WHERE a.occurred_at > en.since AND a.occurred_at <= $now
UNION ALL
SELECT en.enrollment_id, 'stage_change', sc.changed_at, 'stage', sc.to_status
FROM en JOIN lead_stage_changes sc ON sc.lead_id = en.lead_id
WHERE sc.from_status IS NOT NULL AND sc.from_status <> sc.to_status
  AND sc.changed_at > en.since AND sc.changed_at <= $now
UNION ALL
SELECT en.enrollment_id, 'meeting', a.occurred_at, 'activity', a.type
FROM en JOIN activities a ON a.lead_id = en.lead_id AND a.type IN ('meeting', 'demo')
WHERE a.occurred_at > en.since AND a.occurred_at <= $now
UNION ALL
SELECT en.enrollment_id, 'meeting', t.created_at, 'task', t.kind
FROM en JOIN tasks t ON t.lead_id = en.lead_id AND t.kind IN ('meeting', 'demo')
WHERE t.created_at > en.since AND t.created_at <= $now AND t.enrollment_id IS DISTINCT FROM en.enrollment_id
ORDER BY 1, 3;

-- name: seq_enrollment_state
-- An enrollment as it is now, inside the write that is about to advance it (another run may have got there).
SELECT status, next_position, next_due_at FROM sequence_enrollments WHERE id = $enrollment_id;

-- name: seq_enrollment_advance
UPDATE sequence_enrollments
SET status = $status, status_reason = $status_reason, status_at = $status_at, next_position = $next_position,
    next_due_at = $next_due_at
WHERE id = $enrollment_id;

-- name: seq_enrollment_move
-- An active enrollment on to its next step; its status time stays (pause events count from it).
UPDATE sequence_enrollments SET next_position = $next_position, next_due_at = $next_due_at
WHERE id = $enrollment_id;

-- name: seq_email_status
SELECT status FROM emails WHERE id = $email_id;

-- name: seq_step_run_insert
INSERT INTO sequence_step_runs (id, enrollment_id, step_id, ran_at, task_id, email_id, outcome)
VALUES (nextval('sequence_step_runs_id_seq'), $enrollment_id, $step_id, $ran_at, $task_id, $email_id, $outcome)
RETURNING id;

-- name: seq_enrollments_list
-- Enrollments in the acting user's scope (of one sequence and/or one lead, when given), newest first.
SELECT e.id, e.sequence_id, s.name AS sequence, e.lead_id, l.merchant_name, l.status AS lead_status,
       e.rep_id, r.name AS rep, e.enrolled_by, e.enrolled_at, e.status, e.status_reason, e.status_at,
       e.next_position, st.title AS next_step, st.kind AS next_kind, e.next_due_at
FROM sequence_enrollments e
JOIN sequences s ON s.id = e.sequence_id
JOIN leads l ON l.id = e.lead_id
LEFT JOIN reps r ON r.id = e.rep_id
LEFT JOIN sequence_steps st ON st.sequence_id = e.sequence_id AND st.position = e.next_position
                           AND e.status IN ('active', 'paused')
WHERE ($scope_all OR list_contains($scope_reps, l.owner_id))
  AND ($sequence_id IS NULL OR e.sequence_id = $sequence_id)
  AND ($lead_id IS NULL OR e.lead_id = $lead_id)
ORDER BY e.enrolled_at DESC, e.id DESC
LIMIT $limit;

-- name: seq_results_steps
-- Per step of a sequence (removed ones too), over the enrollments in scope: its runs and their outcomes, the
-- tasks they made (done, on time: done_at <= due_at), the emails (sent; opened, clicked, replied: distinct
-- emails with such an event), and the leads that moved forward a stage within $advance_days days after the step ran.
WITH en AS (
    SELECT e.id, e.lead_id FROM sequence_enrollments e JOIN leads l ON l.id = e.lead_id
    WHERE e.sequence_id = $sequence_id AND ($scope_all OR list_contains($scope_reps, l.owner_id))
),
runs AS (
    SELECT r.id, r.step_id, r.ran_at, r.task_id, r.outcome, en.lead_id
    FROM sequence_step_runs r JOIN en ON en.id = r.enrollment_id
),
stage_rank AS (
    SELECT * FROM (VALUES ('new', 0), ('mql', 1), ('sql', 2), ('opportunity', 3), ('won', 4)) v(stage, n)
),
advanced AS (
    SELECT DISTINCT runs.id AS run_id
    FROM runs JOIN lead_stage_changes sc ON sc.lead_id = runs.lead_id
    JOIN stage_rank f ON f.stage = sc.from_status JOIN stage_rank t ON t.stage = sc.to_status
    WHERE t.n > f.n AND sc.changed_at > runs.ran_at
      AND sc.changed_at <= runs.ran_at + to_days(CAST($advance_days AS INTEGER))
),
by_run AS (
    SELECT runs.step_id, count(*) AS runs,
           count(DISTINCT runs.lead_id) AS leads,
           count(*) FILTER (WHERE runs.outcome = 'failed') AS failed,
           count(*) FILTER (WHERE runs.outcome = 'skipped') AS skipped,
           count(t.id) AS tasks,
           count(t.id) FILTER (WHERE t.status = 'done') AS tasks_done,
           count(t.id) FILTER (WHERE t.status = 'done' AND t.done_at <= t.due_at) AS tasks_on_time,
           count(DISTINCT runs.lead_id) FILTER (WHERE a.run_id IS NOT NULL) AS advanced_14d
    FROM runs
    LEFT JOIN tasks t ON t.id = runs.task_id
    LEFT JOIN advanced a ON a.run_id = runs.id
    GROUP BY runs.step_id
),
mail AS (
    SELECT m.step_id, m.id, m.status,
           bool_or(ev.kind = 'open') AS opened, bool_or(ev.kind = 'click') AS clicked,
           bool_or(ev.kind = 'reply') AS replied
    FROM emails m JOIN en ON en.id = m.enrollment_id
    LEFT JOIN email_events ev ON ev.email_id = m.id
    GROUP BY m.step_id, m.id, m.status
),
by_mail AS (
    SELECT step_id, count(*) AS emails,
           count(*) FILTER (WHERE status = 'sent') AS emails_sent,
           count(*) FILTER (WHERE status = 'suppressed') AS emails_suppressed,
           count(*) FILTER (WHERE status = 'failed') AS emails_failed,
           count(*) FILTER (WHERE coalesce(opened, false)) AS opened,
           count(*) FILTER (WHERE coalesce(clicked, false)) AS clicked,
           count(*) FILTER (WHERE coalesce(replied, false)) AS replied
    FROM mail GROUP BY step_id
)
SELECT s.id AS step_id, s.position, s.kind, s.day_offset, s.title, tpl.name AS template,
       coalesce(r.runs, 0) AS runs, coalesce(r.leads, 0) AS leads, coalesce(r.failed, 0) AS failed,
       coalesce(r.skipped, 0) AS skipped, coalesce(r.tasks, 0) AS tasks, coalesce(r.tasks_done, 0) AS tasks_done,
       coalesce(r.tasks_on_time, 0) AS tasks_on_time, coalesce(m.emails, 0) AS emails,
       coalesce(m.emails_sent, 0) AS emails_sent, coalesce(m.emails_suppressed, 0) AS emails_suppressed,
       coalesce(m.emails_failed, 0) AS emails_failed, coalesce(m.opened, 0) AS opened,
       coalesce(m.clicked, 0) AS clicked, coalesce(m.replied, 0) AS replied,
       coalesce(r.advanced_14d, 0) AS advanced_14d
FROM sequence_steps s
LEFT JOIN email_templates tpl ON tpl.id = s.template_id
LEFT JOIN by_run r ON r.step_id = s.id
LEFT JOIN by_mail m ON m.step_id = s.id
WHERE s.sequence_id = $sequence_id
ORDER BY s.position = 0, s.position, s.id;

-- name: seq_results_statuses
-- A sequence's enrollments in scope by status and reason.
SELECT e.status, e.status_reason, count(*) AS enrollments
FROM sequence_enrollments e JOIN leads l ON l.id = e.lead_id
WHERE e.sequence_id = $sequence_id AND ($scope_all OR list_contains($scope_reps, l.owner_id))
GROUP BY e.status, e.status_reason
ORDER BY e.status, e.status_reason;
