-- Logging what a rep did with a lead: calls, emails, meetings, demos.

-- name: activity_lead
-- The lead an activity is logged against, if the acting user may see it (their scope), with its owner.
SELECT id, owner_id, submitted_at, first_response_at, status
FROM leads
WHERE id = $lead_id AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: activity_first_response
-- The lead's first response is its earliest activity on or after submission.
UPDATE leads SET first_response_at = $occurred_at
WHERE id = $lead_id AND $occurred_at >= submitted_at
  AND (first_response_at IS NULL OR first_response_at > $occurred_at);

-- name: activity_count_for_lead
SELECT count(*) FROM activities WHERE lead_id = $lead_id;

-- name: activity_insert
-- An activity with what the form knows about it: the next step, the template that prefilled it, the fields the
-- person typed (manual data entry, measured) and where it was logged from.
-- Notes marked sensitive arrive sealed.
INSERT INTO activities (id, lead_id, rep_id, type, occurred_at, duration_min, outcome, notes, next_step, template_id,
                        fields_typed, source, notes_sensitive)
VALUES (nextval('activities_id_seq'), $lead_id, $rep_id, $type, $occurred_at, $duration_min, $outcome, $notes,
        $next_step, $template_id, $fields_typed, $source, $sensitive)
RETURNING id;

-- name: activity_leads_in_scope
-- The given leads the acting user may see, with their owners and submission times (bulk logging).
SELECT l.id, l.merchant_name, l.owner_id, r.name AS owner, l.status, l.submitted_at
FROM leads l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE l.id IN (SELECT unnest($lead_ids)) AND ($scope_all OR list_contains($scope_reps, l.owner_id))
ORDER BY l.id;

-- name: activity_csv_leads
-- Leads a CSV names, by id or by external id, whether the acting user may see them.
SELECT l.id, l.external_id, l.owner_id, l.submitted_at,
       ($scope_all OR list_contains($scope_reps, l.owner_id)) AS in_scope
FROM leads l
WHERE l.id IN (SELECT unnest($ids)) OR l.external_id IN (SELECT unnest($refs));

-- name: activity_existing_keys
-- The activities already logged on these leads, by lead, type and time: a CSV uploaded twice logs nothing twice.
SELECT lead_id, type, occurred_at FROM activities WHERE lead_id IN (SELECT unnest($lead_ids));

-- ---------------------------------------------------------------- activity templates

-- name: activity_actor_teams
-- The teams a rep belongs to or manages.
SELECT team_id AS id FROM reps WHERE id = $rep_id AND team_id IS NOT NULL
UNION
SELECT id FROM teams WHERE manager_id = $rep_id;

-- name: activity_team_exists
SELECT count(*) FROM teams WHERE id = $team_id;

-- name: activity_template_count
SELECT count(*) FROM activity_templates;

-- name: activity_templates_visible
-- Templates for the given teams and the store-wide ones (team_id NULL); every team's when all_teams.
SELECT t.id, t.team_id, tm.name AS team, t.name, t.type, t.duration_min, t.outcome, t.notes, t.next_step,
       t.follow_up_days, t.active, t.updated_by, t.updated_at
FROM activity_templates t
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE ($all_teams OR t.team_id IS NULL OR list_contains($team_ids, t.team_id))
  AND ($include_inactive OR t.active)
ORDER BY t.team_id NULLS FIRST, lower(t.name), t.id;

-- name: activity_template_by_id
SELECT id, team_id, name, type, duration_min, outcome, notes, next_step, follow_up_days, active, updated_by,
       updated_at
FROM activity_templates WHERE id = $template_id;

-- name: activity_template_by_name
-- A template of the same team (or store-wide) with this name, other than the one being saved.
SELECT id FROM activity_templates
WHERE lower(name) = lower($template_name) AND team_id IS NOT DISTINCT FROM $team_id
  AND id IS DISTINCT FROM $template_id;

-- name: activity_template_insert
INSERT INTO activity_templates (id, team_id, name, type, duration_min, outcome, notes, next_step, follow_up_days,
                                active, updated_by, updated_at)
VALUES (nextval('activity_templates_id_seq'), $team_id, $template_name, $type, $duration_min, $outcome, $notes,
        $next_step, $follow_up_days, $active, $updated_by, $updated_at)
RETURNING id;

-- name: activity_template_update
UPDATE activity_templates
SET team_id = $team_id, name = $template_name, type = $type, duration_min = $duration_min, outcome = $outcome,
    notes = $notes, next_step = $next_step, follow_up_days = $follow_up_days, active = $active,
    updated_by = $updated_by, updated_at = $updated_at
WHERE id = $template_id;

-- ---------------------------------------------------------------- manual data entry, measured

-- name: activity_data_entry
-- Activities in scope (the rep credited) logged in [start, end): whether a template prefilled them and the fields
-- the person typed (NULL: not measured, e.g. demo data and imports).
SELECT a.id, a.occurred_at, a.template_id, a.fields_typed, coalesce(a.source, 'unknown') AS source
FROM activities a
WHERE a.occurred_at >= $start AND a.occurred_at < $end
  AND ($scope_all OR list_contains($scope_reps, a.rep_id));
