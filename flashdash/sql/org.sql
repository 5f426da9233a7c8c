-- Users, reps, teams and the vocabularies the filters offer.

-- name: user_by_username
SELECT id, username, name, email, role, rep_id, active, must_change_password, last_login_at
FROM users WHERE username = $username;

-- name: users_for_login
SELECT username, name, email, password_hash, role FROM users WHERE active ORDER BY username;

-- name: users_all
SELECT u.id, u.username, u.name, u.email, u.role, u.rep_id, r.name AS rep_name, u.active,
       u.must_change_password, u.created_at, u.last_login_at
FROM users u LEFT JOIN reps r ON r.id = u.rep_id
ORDER BY u.role, u.username;

-- name: count_users
SELECT count(*) FROM users;

-- name: reps_managed_by
-- The reps on the teams a manager leads.
SELECT r.id FROM reps r JOIN teams t ON t.id = r.team_id WHERE t.manager_id = $manager_rep_id;

-- name: filter_options_teams
SELECT DISTINCT t.id, t.name FROM teams t JOIN reps r ON r.team_id = t.id
WHERE $scope_all OR list_contains($scope_reps, r.id)
ORDER BY t.name;

-- name: data_span
-- The first and last day with any record (submission, status change, deal, activity) and the last submission:
-- the date filter's "All data", and its default when nothing was submitted recently.
WITH d AS (
    SELECT min(submitted_at) AS first, greatest(max(submitted_at), max(status_changed_at)) AS last,
           max(submitted_at) AS last_submitted FROM leads
    UNION ALL
    SELECT min(created_at), greatest(max(created_at), max(closed_at)), NULL FROM opportunities
    UNION ALL
    SELECT min(occurred_at), max(occurred_at), NULL FROM activities
)
SELECT min(first)::DATE AS first_day, max(last)::DATE AS last_day, max(last_submitted)::DATE AS last_submitted
FROM d;

-- name: data_recorded
-- What the store's data records at all (an import may bring leads and deals but no activities, first
-- responses, interest levels, quotas, usage or regions): pages leave such figures out and say so.
SELECT EXISTS (SELECT 1 FROM activities) AS activities,
       EXISTS (SELECT 1 FROM leads WHERE first_response_at IS NOT NULL) AS first_response,
       EXISTS (SELECT 1 FROM leads WHERE lower(trim(interest_level)) IN ('cold', 'warm', 'hot')) AS interest_level,
       EXISTS (SELECT 1 FROM reps WHERE monthly_quota > 0) AS quota,
       EXISTS (SELECT 1 FROM customer_usage) AS usage,
       EXISTS (SELECT 1 FROM regions) AS regions,
       -- Olist's funnel names a lead's owner (the SDR) only for leads that were won
       EXISTS (SELECT 1 FROM leads WHERE owner_id IS NOT NULL AND status <> 'won') AS owner_before_win;

-- name: filter_options_regions
SELECT id, name FROM regions ORDER BY name;

-- name: filter_options_reps
SELECT r.id, r.name, r.team_id, r.active FROM reps r
WHERE ($scope_all OR list_contains($scope_reps, r.id))
ORDER BY r.name;

-- name: filter_options_verticals
SELECT DISTINCT vertical AS value FROM leads WHERE vertical IS NOT NULL ORDER BY 1;

-- name: filter_options_channels
SELECT DISTINCT channel AS value FROM leads WHERE channel IS NOT NULL ORDER BY 1;

-- name: rep_exists
SELECT count(*) FROM reps WHERE id = $rep_id;

-- name: demo_rep_for_login
-- The active seller (any title but manager: rep, sdr, closer, ...) with the most leads on the first team:
-- the demo rep user's book.
SELECT r.id FROM reps r JOIN teams t ON t.id = r.team_id
WHERE r.title <> 'manager' AND r.active AND t.id = (SELECT min(id) FROM teams)
ORDER BY (SELECT count(*) FROM leads l WHERE l.owner_id = r.id) DESC, r.id
LIMIT 1;

-- name: demo_manager_for_login
SELECT manager_id FROM teams WHERE id = (SELECT min(id) FROM teams);

-- name: teams_without_manager
SELECT id, name FROM teams WHERE manager_id IS NULL ORDER BY id;

-- name: insert_manager_rep
INSERT INTO reps (id, name, email, title, team_id, monthly_quota, start_date, active)
VALUES (nextval('reps_id_seq'), $rep_name, $email, 'manager', $team_id, 0, $start_date, true)
RETURNING id;

-- name: set_team_manager
UPDATE teams SET manager_id = $manager_id WHERE id = $team_id;

-- name: setting
SELECT value FROM settings WHERE key = $key;

-- name: teams_managed
-- The teams a manager leads (the same rule as their row scope: teams.manager_id).
SELECT id FROM teams WHERE manager_id = $rep_id ORDER BY id;

-- name: put_setting
INSERT OR REPLACE INTO settings VALUES ($key, $value);

-- name: store_summary
SELECT table_name, estimated_size AS rows FROM duckdb_tables() ORDER BY table_name;

-- name: schema_version
SELECT max(version) FROM schema_migrations;

-- name: team_ids_by_name
SELECT id FROM teams WHERE list_contains($names, name) ORDER BY id;

-- name: count_leads
SELECT count(*) FROM leads;

-- name: audit_recent
SELECT logged_at, actor, action, entity, entity_id, reason FROM audit_log ORDER BY id DESC LIMIT $limit;

