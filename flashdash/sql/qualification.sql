-- The qualification workflow: what each lead has done (its facts), the teams' criteria, stage changes and
-- their history.
--
-- Row scope, shared by every query here that an acting user runs: the user sees every lead ($scope_all), a
-- lead owned by a rep in $scope_reps, or an unassigned lead from one of $unassigned_regions (a manager's
-- teams' regions: the queue they route from).

-- name: qual_lead_facts
-- One row per lead (every open lead when $every_open, else the leads in $lead_ids) with the fields criteria
-- test. Activities and opportunities count up to $now only, so an evaluation is reproducible.
-- A discovery call is a call that connected (outcome 'connected') or whose outcome or notes mention discovery.
WITH l AS (
    SELECT l.*, r.team_id
    FROM leads l
    LEFT JOIN reps r ON r.id = l.owner_id
    WHERE CASE WHEN $every_open THEN l.status IN ('new', 'mql', 'sql', 'opportunity')
               ELSE list_contains($lead_ids, l.id) END
),
last_change AS (
    SELECT s.lead_id, arg_max(s.from_status, (s.changed_at, s.id)) AS from_status,
           arg_max(s.to_status, (s.changed_at, s.id)) AS to_status,
           max(s.changed_at) FILTER (WHERE s.to_status = 'sql') AS entered_sql
    FROM lead_stage_changes s
    JOIN l ON l.id = s.lead_id
    WHERE s.changed_at <= $now
    GROUP BY s.lead_id
),
sql_since AS (
    -- When the lead entered SQL, for leads that are SQL or beyond (NULL before: nothing counts yet).
    SELECT l.id,
           CASE WHEN l.status = 'sql' THEN coalesce(l.status_changed_at, c.entered_sql, l.submitted_at)
                WHEN l.status IN ('opportunity', 'won', 'lost', 'disqualified') THEN c.entered_sql END AS at
    FROM l LEFT JOIN last_change c ON c.lead_id = l.id
),
acts AS (
    SELECT a.lead_id,
           count(*) FILTER (WHERE a.type = 'call') AS calls,
           count(*) FILTER (WHERE a.type = 'email') AS emails,
           count(*) FILTER (WHERE a.type = 'meeting') AS meetings,
           count(*) FILTER (WHERE a.type = 'demo') AS demos,
           count(*) FILTER (WHERE a.type = 'call' AND (lower(coalesce(a.outcome, '')) = 'connected'
               OR contains(lower(coalesce(a.outcome, '') || ' ' || coalesce(a.notes, '')), 'discovery')))
               AS discovery_calls,
           -- strictly after entering SQL: a second evaluation at the same instant must not see new facts
           count(*) FILTER (WHERE a.type = 'meeting' AND a.occurred_at > q.at) AS meetings_since_sql,
           count(*) FILTER (WHERE a.type = 'demo' AND a.occurred_at > q.at) AS demos_since_sql,
           max(a.occurred_at) AS last_activity_at
    FROM activities a
    JOIN sql_since q ON q.id = a.lead_id
    WHERE a.occurred_at <= $now
    GROUP BY a.lead_id
),
opps AS (
    SELECT DISTINCT o.lead_id FROM opportunities o JOIN l ON l.id = o.lead_id WHERE o.created_at <= $now
)
SELECT l.id AS lead_id, l.status, l.team_id, l.owner_id, l.submitted_at, l.status_changed_at,
       s.score::DOUBLE AS score, s.probability::DOUBLE AS probability, lower(trim(s.band)) AS band,
       lower(trim(l.interest_level)) AS interest_level, lower(trim(l.vertical)) AS vertical,
       lower(trim(l.channel)) AS channel, lower(trim(l.company_size)) AS company_size,
       l.monthly_volume::DOUBLE AS monthly_volume, lower(trim(l.language)) AS language,
       coalesce(l.budget_confirmed, false) AS budget_confirmed,
       coalesce(a.calls, 0)::BIGINT AS calls, coalesce(a.emails, 0)::BIGINT AS emails,
       coalesce(a.meetings, 0)::BIGINT AS meetings, coalesce(a.demos, 0)::BIGINT AS demos,
       coalesce(a.discovery_calls, 0)::BIGINT AS discovery_calls,
       coalesce(a.meetings_since_sql, 0)::BIGINT AS meetings_since_sql,
       coalesce(a.demos_since_sql, 0)::BIGINT AS demos_since_sql,
       coalesce(trim(l.email), '') <> '' AS has_email,
       coalesce(trim(l.phone), '') <> '' AS has_phone,
       o.lead_id IS NOT NULL AS has_opportunity,
       date_diff('second', l.submitted_at, $now::TIMESTAMP) / 86400.0 AS days_since_submitted,
       date_diff('second', coalesce(l.status_changed_at, l.submitted_at), $now::TIMESTAMP) / 86400.0 AS days_in_stage,
       -- a person moved the lead back (or reopened it) last: rules leave it where they put it
       coalesce(c.from_status IS NOT NULL
           AND coalesce(list_position(['new', 'mql', 'sql', 'opportunity'], c.to_status), 5)
               < coalesce(list_position(['new', 'mql', 'sql', 'opportunity'], c.from_status), 5), false) AS held,
       a.last_activity_at
FROM l
LEFT JOIN last_change c ON c.lead_id = l.id
LEFT JOIN acts a ON a.lead_id = l.id
LEFT JOIN lead_scores s ON s.lead_id = l.id
LEFT JOIN opps o ON o.lead_id = l.id
ORDER BY l.id;

-- name: qual_criteria_rows
-- Every stored criterion: each team's own and the default (team_id NULL).
SELECT id, team_id, stage, conditions, auto, updated_by, updated_at
FROM qualification_criteria
ORDER BY team_id NULLS FIRST, stage, id;

-- name: qual_criterion
SELECT id, team_id, stage, conditions, auto, updated_by, updated_at
FROM qualification_criteria
WHERE team_id IS NOT DISTINCT FROM $team_id AND stage = $stage
ORDER BY id DESC
LIMIT 1;

-- name: qual_criterion_insert
INSERT INTO qualification_criteria (id, team_id, stage, conditions, auto, updated_by, updated_at)
VALUES (nextval('qualification_criteria_id_seq'), $team_id, $stage, $conditions, $auto, $updated_by, $updated_at)
RETURNING id;

-- name: qual_criterion_update
UPDATE qualification_criteria
SET conditions = $conditions, auto = $auto, updated_by = $updated_by, updated_at = $updated_at
WHERE id = $id;

-- name: qual_criterion_delete
DELETE FROM qualification_criteria WHERE team_id IS NOT DISTINCT FROM $team_id AND stage = $stage;

-- name: qual_team
SELECT id, name, region_id, manager_id FROM teams WHERE id = $team_id;

-- name: qual_teams_managed
-- The teams a manager leads, and the regions whose unassigned leads they route.
SELECT id, name, region_id FROM teams WHERE manager_id = $rep_id ORDER BY id;

-- name: qual_leads_for_change
-- The requested leads with their stage and whether the acting user may touch them (see the scope note above).
WITH wanted AS (SELECT DISTINCT unnest($lead_ids) AS id)
SELECT w.id AS lead_id, l.status,
       l.id IS NOT NULL AND ($scope_all OR list_contains($scope_reps, l.owner_id)
           OR (l.owner_id IS NULL AND list_contains($unassigned_regions, l.region_id))) AS in_scope
FROM wanted w
LEFT JOIN leads l ON l.id = w.id
ORDER BY w.id;

-- name: qual_set_status
-- Each lead to its final stage of this change; only if it is still where the plan found it.
UPDATE leads SET status = c.to_status, status_changed_at = $now
FROM (SELECT unnest($lead_ids) AS id, unnest($from_statuses) AS from_status, unnest($to_statuses) AS to_status) c
WHERE leads.id = c.id AND leads.status = c.from_status;

-- name: qual_insert_changes
INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor, reason)
SELECT nextval('lead_stage_changes_id_seq'), lead_id, from_status, to_status, $now, $actor, reason
FROM (SELECT unnest($lead_ids) AS lead_id, unnest($from_statuses) AS from_status,
             unnest($to_statuses) AS to_status, unnest($reasons) AS reason);

-- name: qual_audit_changes
-- One audit record per stage change, in one statement (flashdash.audit.record writes one row per call, too
-- slow for a rule pass over thousands of leads). Same columns and JSON shape as audit.record.
INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, before, after, reason)
SELECT nextval('audit_log_id_seq'), $now, $actor, 'stage_change', 'lead', lead_id::VARCHAR, before, after, reason
FROM (SELECT unnest($lead_ids) AS lead_id, unnest($befores) AS before, unnest($afters) AS after,
             unnest($reasons) AS reason);

-- name: qual_lead_in_scope
SELECT id, status, submitted_at FROM leads
WHERE id = $lead_id
  AND ($scope_all OR list_contains($scope_reps, owner_id)
       OR (owner_id IS NULL AND list_contains($unassigned_regions, region_id)));

-- name: qual_history
-- A lead's stage changes in order, each with the time until the next one (or $now for the current stage).
SELECT changed_at, from_status, to_status, actor, reason,
       coalesce(lead(changed_at) OVER w, $now::TIMESTAMP) AS until,
       date_diff('second', changed_at, coalesce(lead(changed_at) OVER w, $now::TIMESTAMP)) / 86400.0 AS days
FROM lead_stage_changes
WHERE lead_id = $lead_id AND changed_at <= $now
WINDOW w AS (ORDER BY changed_at, id)
ORDER BY changed_at, id;

-- name: qual_time_in_stage
-- Days per stay in each open stage over the leads in scope ($lead_ids, or all when $every): a finished stay
-- lasts until the next change, a current one until $now.
WITH l AS (
    SELECT id FROM leads
    WHERE ($every OR list_contains($lead_ids, id))
      AND ($scope_all OR list_contains($scope_reps, owner_id)
           OR (owner_id IS NULL AND list_contains($unassigned_regions, region_id)))
),
stays AS (
    SELECT s.lead_id, s.to_status AS stage, s.changed_at,
           lead(s.changed_at) OVER (PARTITION BY s.lead_id ORDER BY s.changed_at, s.id) AS ended
    FROM lead_stage_changes s
    JOIN l ON l.id = s.lead_id
    WHERE s.changed_at <= $now
)
SELECT stage,
       count(DISTINCT lead_id) AS leads,
       count(*) AS stays,
       count(*) FILTER (WHERE ended IS NULL) AS current,
       median(days) AS median_days,
       avg(days) AS mean_days,
       quantile_cont(days, 0.9) AS p90_days
FROM (SELECT *, date_diff('second', changed_at, coalesce(ended, $now::TIMESTAMP)) / 86400.0 AS days FROM stays)
WHERE stage IN ('new', 'mql', 'sql', 'opportunity')
GROUP BY stage
ORDER BY list_position(['new', 'mql', 'sql', 'opportunity'], stage);
