-- Revenue forecasting (flashdash/forecast.py): the deals and quotas it learns from and simulates, its stored runs
-- and the saved what-if scenarios. Row scope: a rep sees their own deals, a manager their teams', everyone else all.

-- name: forecast_deals
-- Every deal in scope (of one team when $team_id is set) created by $now. Closes after $now are read as still open.
SELECT o.id, o.owner_id, r.team_id, o.amount::DOUBLE AS amount, o.stage, o.created_at, o.closed_at, o.won,
       coalesce(lower(l.interest_level), 'unknown') AS interest_level, coalesce(lower(l.channel), 'unknown') AS channel
FROM opportunities o
LEFT JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE ($scope_all OR list_contains($scope_reps, o.owner_id))
  AND ($team_id::INTEGER IS NULL OR r.team_id = $team_id::INTEGER)
  AND o.created_at <= $now
ORDER BY o.id;

-- name: forecast_stage_changes
-- The stage history of the deals in scope up to $now: what stage a deal was in at any past time.
SELECT c.opportunity_id AS id, c.to_value AS stage, c.changed_at
FROM opportunity_changes c
JOIN opportunities o ON o.id = c.opportunity_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE c.field = 'stage'
  AND ($scope_all OR list_contains($scope_reps, o.owner_id))
  AND ($team_id::INTEGER IS NULL OR r.team_id = $team_id::INTEGER)
  AND c.changed_at <= $now
ORDER BY c.changed_at, c.id;

-- name: forecast_reps
-- The reps in scope with their team and monthly quota (a manager carries none: their team's is its sellers').
SELECT r.id AS rep_id, r.name AS rep, r.team_id, t.name AS team, coalesce(r.monthly_quota, 0)::DOUBLE AS monthly_quota,
       r.active
FROM reps r
LEFT JOIN teams t ON t.id = r.team_id
WHERE ($scope_all OR list_contains($scope_reps, r.id))
  AND ($team_id::INTEGER IS NULL OR r.team_id = $team_id::INTEGER)
ORDER BY r.team_id, r.id;

-- name: forecast_team_exists
SELECT count(*) FROM teams WHERE id = $team_id;

-- name: forecast_run_insert
INSERT INTO analytics_runs (id, kind, as_of, computed_at, payload)
VALUES (nextval('analytics_runs_id_seq'), 'forecast', $as_of, $computed_at, $payload)
RETURNING id;

-- name: forecast_latest_run
SELECT id, as_of, computed_at, payload
FROM analytics_runs
WHERE kind = 'forecast'
ORDER BY computed_at DESC, id DESC
LIMIT 1;

-- name: fresh_forecast
-- When the forecast was last refreshed (the scheduler's freshness check).
SELECT max(computed_at) FROM analytics_runs WHERE kind = 'forecast';

-- name: forecast_scenario_insert
INSERT INTO scenarios (id, title, team_id, created_by, created_at, params, results)
VALUES (nextval('scenarios_id_seq'), $title, $team_id::INTEGER, $created_by, $created_at, $params, $results)
RETURNING id;

-- name: forecast_scenarios
-- The saved scenarios the actor may see: every one for those who see every row, a manager's teams' for a manager
-- ($teams), none for a rep.
SELECT s.id, s.title, s.team_id, t.name AS team, s.created_by, s.created_at, s.params, s.results
FROM scenarios s
LEFT JOIN teams t ON t.id = s.team_id
WHERE $scope_all OR list_contains($teams, s.team_id)
ORDER BY s.created_at DESC, s.id DESC;
