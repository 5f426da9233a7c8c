-- The smart-filtered lead list and saved views.
-- Row scope as in qualification.sql: every lead ($scope_all), a lead owned by a rep in $scope_reps, or an
-- unassigned lead from one of $unassigned_regions (a manager's teams' regions).

-- name: view_leads
-- The leads a filter matches in the actor's scope, sorted, at most $limit of them (NULL: all), each row
-- with `matching`, the number of leads the filter matches in all. Empty lists and NULL bounds do not filter.
-- Contact fields are searched only when $search_contacts (roles that see them unmasked): the email exactly, by
-- its blind index ($search_bidx), the contact name anywhere in it (opened to be searched: it is stored sealed).
WITH base AS (
    SELECT l.id, l.merchant_name, l.contact_name, l.email, l.status, l.owner_id, r.name AS owner,
           r.team_id, t.name AS team, l.vertical, l.channel, l.interest_level, l.language, l.submitted_at,
           s.score::DOUBLE AS score, s.probability::DOUBLE AS probability,
           CASE WHEN lower(s.band) IN ('high', 'medium', 'low') THEN lower(s.band) ELSE 'unscored' END AS band,
           date_diff('second', coalesce(l.status_changed_at, l.submitted_at), $now::TIMESTAMP) / 86400.0
               AS days_in_stage,
           date_diff('second', l.submitted_at, $now::TIMESTAMP) / 86400.0 AS age_days
    FROM leads l
    LEFT JOIN reps r ON r.id = l.owner_id
    LEFT JOIN teams t ON t.id = r.team_id
    LEFT JOIN lead_scores s ON s.lead_id = l.id
    WHERE l.submitted_at <= $now
      AND ($scope_all OR list_contains($scope_reps, l.owner_id)
           OR (l.owner_id IS NULL AND list_contains($unassigned_regions, l.region_id)))
      AND (len($stages) = 0 OR list_contains($stages, l.status))
      AND (len($owners) = 0 OR list_contains($owners, l.owner_id))
      AND (len($teams) = 0 OR list_contains($teams, r.team_id))
      AND (len($verticals) = 0 OR list_contains($verticals, l.vertical))
      AND (len($channels) = 0 OR list_contains($channels, l.channel))
      AND (NOT $unassigned_only OR l.owner_id IS NULL)
      AND ($search = ''
           OR contains(lower(coalesce(l.merchant_name, '')), $search)
           OR ($search_contacts AND (l.email_bidx = $search_bidx
                                     OR contains(lower(coalesce(fd_open(l.contact_name), '')), $search))))
),
filtered AS (
    SELECT * FROM base
    WHERE (len($bands) = 0 OR list_contains($bands, band))
      AND ($score_min IS NULL OR score >= $score_min)
      AND ($score_max IS NULL OR score <= $score_max)
      AND ($age_min_days IS NULL OR age_days >= $age_min_days)
      AND ($age_max_days IS NULL OR age_days <= $age_max_days)
      AND ($in_stage_over_days IS NULL OR days_in_stage > $in_stage_over_days)
),
acts AS (
    SELECT a.lead_id, max(a.occurred_at) AS last_activity_at
    FROM activities a
    JOIN filtered f ON f.id = a.lead_id
    WHERE a.occurred_at <= $now
    GROUP BY a.lead_id
)
SELECT f.id, f.merchant_name, f.contact_name, f.email, f.status, f.days_in_stage, f.score, f.band,
       f.probability, f.owner_id, f.owner, f.team, f.vertical, f.channel, f.interest_level, f.language,
       f.submitted_at, f.age_days, a.last_activity_at,
       count(*) OVER () AS matching
FROM filtered f
LEFT JOIN acts a ON a.lead_id = f.id
WHERE NOT $unworked_only OR a.last_activity_at IS NULL
ORDER BY
    CASE WHEN $sort = 'score' THEN f.score END DESC NULLS LAST,
    CASE WHEN $sort = 'stale' THEN f.days_in_stage END DESC NULLS LAST,
    CASE WHEN $sort = 'last_activity' THEN a.last_activity_at END DESC NULLS LAST,
    CASE WHEN $sort = 'oldest' THEN f.submitted_at END ASC,
    CASE WHEN $sort = 'merchant' THEN lower(f.merchant_name) END ASC NULLS LAST,
    f.submitted_at DESC, f.id DESC
LIMIT $limit;

-- name: view_actor_teams
-- The teams whose members' shared views a user sees: their own team and the teams they manage.
SELECT team_id AS id FROM reps WHERE id = $rep_id AND team_id IS NOT NULL
UNION
SELECT id FROM teams WHERE manager_id = $rep_id
ORDER BY id;

-- name: view_saved_visible
-- The user's own views, and the views shared by members of $teams (every shared view when $all_shared).
SELECT v.id, v.name, v.owner, coalesce(u.name, v.owner) AS owner_name, v.shared, v.filters, v.created_at
FROM saved_views v
LEFT JOIN users u ON u.username = v.owner
LEFT JOIN reps r ON r.id = u.rep_id
WHERE v.owner = $username OR (v.shared AND ($all_shared OR list_contains($teams, r.team_id)))
ORDER BY v.owner <> $username, lower(v.name), v.id;

-- name: view_saved_by_id
SELECT id, owner, name, filters, shared, created_at FROM saved_views WHERE id = $view_id;

-- name: view_name_taken
SELECT count(*) FROM saved_views WHERE owner = $owner AND lower(name) = lower($view_name);

-- name: view_insert
INSERT INTO saved_views (id, owner, name, filters, shared, created_at)
VALUES (nextval('saved_views_id_seq'), $owner, $view_name, $filters, $shared, $created_at)
RETURNING id;

-- name: view_delete
DELETE FROM saved_views WHERE id = $view_id;
