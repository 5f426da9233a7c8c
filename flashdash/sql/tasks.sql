-- Follow-up work on leads.

-- name: task_leads_in_scope
-- The given leads the acting user may see, with their owners.
SELECT id, owner_id FROM leads
WHERE list_contains($lead_ids, id) AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: task_insert
INSERT INTO tasks (id, lead_id, rep_id, title, due_at, status, created_by, created_at, notes, kind, rule_id,
                   enrollment_id, step_id)
VALUES (nextval('tasks_id_seq'), $lead_id, $rep_id, $title, $due_at, 'open', $created_by, $created_at, $notes,
        $kind, $rule_id, $enrollment_id, $step_id)
RETURNING id;

-- name: tasks_open
-- Open tasks in the actor's scope, soonest due first.
SELECT t.id, t.lead_id, l.merchant_name, t.rep_id, r.name AS rep, t.title, t.due_at, t.created_by, t.created_at
FROM tasks t
LEFT JOIN leads l ON l.id = t.lead_id
LEFT JOIN reps r ON r.id = t.rep_id
WHERE t.status = 'open' AND ($scope_all OR list_contains($scope_reps, t.rep_id))
ORDER BY t.due_at NULLS LAST, t.id
LIMIT $limit;

-- ---------------------------------------------------------------- task rules

-- name: task_rules_stored
-- Every stored task rule, the defaults (team_id NULL) first.
SELECT tr.id, tr.team_id, tm.name AS team, tr."trigger", tr.value, tr.title, tr.due_hours, tr.active, tr.updated_by,
       tr.updated_at
FROM task_rules tr LEFT JOIN teams tm ON tm.id = tr.team_id
ORDER BY tr.team_id NULLS FIRST, tr.id;

-- name: task_rule_row
SELECT id, team_id, "trigger", value, title, due_hours, active FROM task_rules WHERE id = $rule_id;

-- name: task_rule_insert
INSERT INTO task_rules (id, team_id, "trigger", value, title, due_hours, active, updated_by, updated_at)
VALUES (nextval('task_rules_id_seq'), $team_id, $trigger, $value, $title, $due_hours, $active, $updated_by,
        $updated_at)
RETURNING id;

-- name: task_rule_update
UPDATE task_rules SET "trigger" = $trigger, value = $value, title = $title, due_hours = $due_hours, active = $active,
                      updated_by = $updated_by, updated_at = $updated_at
WHERE id = $rule_id;

-- name: task_rule_delete
DELETE FROM task_rules WHERE id = $rule_id;

-- name: task_team
SELECT id, name AS team, manager_id FROM teams WHERE id = $team_id;

-- name: task_rule_events
-- What task rules react to, recorded at or after $since: a lead entering a stage (recorded when it changed) and an
-- activity being logged (recorded when its audit record says it was logged; an activity without one, e.g. an
-- imported one, when it occurred). event_at is when it happened (a task's due time counts from it); recorded_at,
-- never later than $now, is what makes applying the rules twice create nothing more (see tasks.plan_rule_tasks).
WITH logged AS (
    SELECT TRY_CAST(entity_id AS BIGINT) AS id, min(logged_at) AS logged_at
    FROM audit_log
    WHERE entity = 'activity' AND action = 'create' AND logged_at >= $since
    GROUP BY ALL
), events AS (
    SELECT 'stage_entered' AS "trigger", c.to_status AS value, c.lead_id, c.id AS event_id, c.changed_at AS event_at,
           least(c.changed_at, $now) AS recorded_at
    FROM lead_stage_changes c
    WHERE c.changed_at >= $since AND ($every OR list_contains($lead_ids, c.lead_id))
    UNION ALL
    SELECT 'activity_logged', a.type, a.lead_id, a.id, a.occurred_at, least(coalesce(g.logged_at, a.occurred_at), $now)
    FROM activities a LEFT JOIN logged g ON g.id = a.id
    WHERE (g.id IS NOT NULL OR a.occurred_at >= $since) AND ($every OR list_contains($lead_ids, a.lead_id))
)
SELECT e."trigger", e.value, e.lead_id, e.event_id, e.event_at, e.recorded_at, l.owner_id, r.team_id,
       l.status AS lead_status
FROM events e JOIN leads l ON l.id = e.lead_id LEFT JOIN reps r ON r.id = l.owner_id
ORDER BY e.recorded_at, e.event_id;

-- name: task_rule_existing
-- Tasks rules made for these leads since $since: the events they answered.
SELECT rule_id, lead_id, created_at FROM tasks
WHERE rule_id IS NOT NULL AND created_at >= $since AND list_contains($lead_ids, lead_id);

-- ---------------------------------------------------------------- the queue

-- name: task_queue
-- Open tasks in the actor's scope (or one rep's), with their lead, its score and stage.
SELECT t.id AS task_id, t.title, t.kind, t.notes, t.lead_id, l.merchant_name, l.contact_name, l.email, l.phone,
       l.status AS stage, s.score, t.rep_id, r.name AS rep, r.team_id, t.due_at, t.created_by, t.created_at,
       t.rule_id, t.enrollment_id, t.delegated_from, d.name AS delegated_from_rep, t.reminded_at
FROM tasks t
LEFT JOIN leads l ON l.id = t.lead_id
LEFT JOIN lead_scores s ON s.lead_id = t.lead_id
LEFT JOIN reps r ON r.id = t.rep_id
LEFT JOIN reps d ON d.id = t.delegated_from
WHERE t.status = 'open' AND ($scope_all OR list_contains($scope_reps, t.rep_id))
  AND ($rep_id::INTEGER IS NULL OR t.rep_id = $rep_id);

-- name: task_counts_per_rep
-- Each rep in scope with their open, overdue and due-within-a-day tasks (inactive reps only while they hold some).
SELECT r.id AS rep_id, r.name AS rep, r.team_id, r.active,
       count(t.id) AS open_tasks,
       count(t.id) FILTER (WHERE t.due_at < $now) AS overdue,
       count(t.id) FILTER (WHERE t.due_at >= $now AND t.due_at < $now + INTERVAL 24 HOUR) AS due_24h
FROM reps r LEFT JOIN tasks t ON t.rep_id = r.id AND t.status = 'open'
WHERE ($scope_all OR list_contains($scope_reps, r.id)) AND (r.active OR t.id IS NOT NULL)
GROUP BY ALL
ORDER BY overdue DESC, open_tasks DESC, rep;

-- ---------------------------------------------------------------- one task and its changes

-- name: task_row
SELECT t.id, t.lead_id, t.rep_id, t.title, t.due_at, t.status, t.done_at, t.notes, t.kind, t.delegated_from,
       r.team_id, r.name AS rep
FROM tasks t LEFT JOIN reps r ON r.id = t.rep_id
WHERE t.id = $task_id;

-- name: task_rows
SELECT t.id, t.lead_id, t.rep_id, t.title, t.due_at, t.status, t.notes, t.delegated_from, r.team_id, r.name AS rep
FROM tasks t LEFT JOIN reps r ON r.id = t.rep_id
WHERE list_contains($task_ids, t.id)
ORDER BY t.id;

-- name: task_set_done
UPDATE tasks SET status = 'done', done_at = $now, notes = $notes WHERE id = $task_id AND status = 'open';

-- name: task_set_cancelled
UPDATE tasks SET status = 'cancelled', notes = $notes WHERE id = $task_id AND status = 'open';

-- name: task_set_due
-- A snooze: a new due time, and a new reminder when it comes.
UPDATE tasks SET due_at = $due_at, reminded_at = NULL WHERE id = $task_id AND status = 'open';

-- name: task_hand_on
-- A task to another rep (delegation, a departing rep's work): who had it is kept, its reminder goes out anew.
UPDATE tasks SET rep_id = $to_rep_id, delegated_from = $from_rep_id, notes = $notes, reminded_at = NULL
WHERE id = $task_id AND status = 'open';

-- name: task_restore_owner
-- Undo of task_hand_on within a failed reassignment.
UPDATE tasks SET rep_id = $rep_id, delegated_from = $delegated_from, notes = $notes WHERE id = $task_id;

-- name: task_rep
SELECT r.id, r.name, r.email, r.team_id, r.active FROM reps r WHERE r.id = $rep_id;

-- name: task_rep_open_tasks
SELECT t.id, t.rep_id, t.delegated_from, t.notes FROM tasks t WHERE t.rep_id = $rep_id AND t.status = 'open' ORDER BY t.id;

-- name: task_rep_open_leads
SELECT id FROM leads WHERE owner_id = $rep_id AND status IN ('new', 'mql', 'sql', 'opportunity') ORDER BY id;

-- name: task_rep_set_active
UPDATE reps SET active = $active WHERE id = $rep_id;

-- ---------------------------------------------------------------- reminders

-- name: task_due_reminders
-- Open tasks due by $until (overdue ones included) whose reminder has not gone out, with their rep.
SELECT t.id AS task_id, t.rep_id, r.name AS rep, r.email AS rep_email, r.active AS rep_active, t.title, t.kind,
       t.lead_id, l.merchant_name, t.due_at, t.due_at < $now AS overdue
FROM tasks t JOIN reps r ON r.id = t.rep_id LEFT JOIN leads l ON l.id = t.lead_id
WHERE t.status = 'open' AND t.reminded_at IS NULL AND t.due_at IS NOT NULL AND t.due_at <= $until
ORDER BY t.rep_id, t.due_at, t.id;

-- name: task_mark_reminded
UPDATE tasks SET reminded_at = $now WHERE list_contains($task_ids, id) AND status = 'open' AND reminded_at IS NULL;

-- ---------------------------------------------------------------- compliance

-- name: task_compliance_rows
-- Tasks due in [$start, $end) in the actor's scope, with how they ended.
SELECT t.id AS task_id, t.rep_id, r.name AS rep, t.due_at, t.done_at, t.status
FROM tasks t JOIN reps r ON r.id = t.rep_id
WHERE t.due_at >= $start AND t.due_at < $end AND ($scope_all OR list_contains($scope_reps, t.rep_id))
ORDER BY t.due_at, t.id;
