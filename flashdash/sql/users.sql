-- Users: sign-in state (lockout), admin user management and the access review.

-- name: user_account
-- Everything about one user the sign-in and the admin actions need (never the password hash).
SELECT id, username, name, email, role, rep_id, active, must_change_password, created_at, last_login_at,
       coalesce(failed_logins, 0) AS failed_logins, last_failed_login_at, locked_until, password_changed_at
FROM users WHERE username = $username;

-- name: user_password_hash
SELECT password_hash FROM users WHERE username = $username;

-- name: username_taken
SELECT count(*) FROM users WHERE username = $username;

-- name: insert_user
INSERT INTO users (id, username, name, email, password_hash, role, rep_id, active, must_change_password,
                   created_at, password_changed_at, failed_logins)
VALUES (nextval('users_id_seq'), $username, $full_name, $email, $password_hash, $role, $rep_id, true,
        $must_change_password, $now, $now, 0)
RETURNING id;

-- name: set_login_success
UPDATE users SET last_login_at = $now, failed_logins = 0, locked_until = NULL WHERE username = $username;

-- name: set_login_failures
UPDATE users SET failed_logins = $failures, last_failed_login_at = $now, locked_until = $locked_until
WHERE id = $user_id;

-- name: unknown_login_failures
-- Failed sign-ins of a username no account has, counted from the audit trail (the store has no row to keep
-- them in), so that such a name locks exactly as an account would. Refusals while locked do not count.
SELECT count(*) AS failures, max(logged_at) AS last_failed
FROM audit_log
WHERE entity = 'user' AND entity_id = $username AND action = 'login_failed' AND logged_at > $since
  AND coalesce(reason, '') <> 'account locked';

-- name: set_user_active
UPDATE users SET active = $active WHERE id = $user_id;

-- name: set_user_role
UPDATE users SET role = $role, rep_id = $rep_id WHERE id = $user_id;

-- name: set_user_password
UPDATE users SET password_hash = $password_hash, must_change_password = $must_change_password,
                 password_changed_at = $now, failed_logins = 0, locked_until = NULL
WHERE id = $user_id;

-- name: unlock_user
UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $user_id;

-- name: count_active_admins
SELECT count(*) FROM users WHERE active AND role = 'admin';

-- name: rep_choices
-- The reps a user account can be tied to, with their team and whether they manage one.
SELECT r.id, r.name AS rep_name, t.name AS team, r.title,
       EXISTS (SELECT 1 FROM teams m WHERE m.manager_id = r.id) AS manages_team
FROM reps r LEFT JOIN teams t ON t.id = r.team_id
ORDER BY r.name, r.id;

-- name: users_admin
-- Every user with their rep, sign-in state and scope, for the Users tab and the access review.
SELECT u.id, u.username, u.name, u.email, u.role, u.rep_id, r.name AS rep_name, u.active,
       u.must_change_password, u.created_at, u.last_login_at, coalesce(u.failed_logins, 0) AS failed_logins,
       u.locked_until, coalesce(u.password_changed_at, u.created_at) AS password_set_at,
       (SELECT string_agg(t.name, ', ' ORDER BY t.name) FROM teams t WHERE t.manager_id = u.rep_id)
           AS managed_teams
FROM users u LEFT JOIN reps r ON r.id = u.rep_id
ORDER BY u.username;
