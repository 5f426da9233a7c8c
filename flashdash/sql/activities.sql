-- Logging what a rep did with a lead: calls, emails, meetings, demos.

-- name: activity_lead
-- The lead an activity is logged against, if the acting user may see it (their scope), with its owner.
SELECT id, owner_id, submitted_at, first_response_at, status
FROM leads
WHERE id = $lead_id AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: activity_insert
INSERT INTO activities (id, lead_id, rep_id, type, occurred_at, duration_min, outcome, notes)
VALUES (nextval('activities_id_seq'), $lead_id, $rep_id, $type, $occurred_at, $duration_min, $outcome, $notes)
RETURNING id;

-- name: activity_first_response
-- The lead's first response is its earliest activity on or after submission.
UPDATE leads SET first_response_at = $occurred_at
WHERE id = $lead_id AND $occurred_at >= submitted_at
  AND (first_response_at IS NULL OR first_response_at > $occurred_at);

-- name: activity_count_for_lead
SELECT count(*) FROM activities WHERE lead_id = $lead_id;
