-- The rep scoreboard: each rep's leads, activities, response time, conversion and won revenue in a period.
-- Everything reads through the scoped_* macros, so a rep gets their own row and a manager their team's.

-- name: scoreboard_reps
-- One row per rep in scope: active sellers always (an idle rep is news), anyone else (managers, reps who
-- have left) only when they have leads, activities or wins in the period. Leads are those the rep owns that
-- were submitted in the period; revenue is won opportunities they own that closed in it.
WITH l AS (
    SELECT owner_id AS rep_id,
           count(*) AS leads,
           count(*) FILTER (WHERE status = 'won') AS won_leads,
           count(first_response_at) AS responded,
           median(date_diff('minute', submitted_at, first_response_at)) / 60.0 AS median_response_hours
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE owner_id IS NOT NULL
    GROUP BY 1
),
a AS (
    SELECT rep_id, count(*) AS activities
    FROM scoped_activities($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE rep_id IS NOT NULL
    GROUP BY 1
),
o AS (
    SELECT owner_id AS rep_id, count(*) AS won_deals, sum(amount)::DOUBLE AS won_revenue
    FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
    WHERE won AND closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY AND owner_id IS NOT NULL
    GROUP BY 1
)
SELECT r.id AS rep_id, r.name, r.title, r.active, r.team_id, t.name AS team,
       coalesce(r.monthly_quota, 0)::DOUBLE AS monthly_quota,
       coalesce(l.leads, 0) AS leads,
       coalesce(l.won_leads, 0) AS won_leads,
       coalesce(l.responded, 0) AS responded,
       l.median_response_hours,
       coalesce(a.activities, 0) AS activities,
       coalesce(o.won_deals, 0) AS won_deals,
       coalesce(o.won_revenue, 0)::DOUBLE AS won_revenue
FROM reps r
LEFT JOIN teams t ON t.id = r.team_id
LEFT JOIN l ON l.rep_id = r.id
LEFT JOIN a ON a.rep_id = r.id
LEFT JOIN o ON o.rep_id = r.id
WHERE ($scope_all OR list_contains($scope_reps, r.id))
  AND (len($teams) = 0 OR list_contains($teams, r.team_id))
  AND (len($reps) = 0 OR list_contains($reps, r.id))
  AND ((r.active AND r.title <> 'manager' AND (len($regions) = 0 OR list_contains($regions, r.region_id)))
       OR l.rep_id IS NOT NULL OR a.rep_id IS NOT NULL OR o.rep_id IS NOT NULL)
ORDER BY r.name, r.id;

-- name: scoreboard_team_response
-- Median first response per team over the same leads as scoreboard_reps (a median of the reps' medians
-- would weigh a rep with 3 leads like one with 300).
SELECT team_id,
       median(date_diff('minute', submitted_at, first_response_at)) / 60.0 AS median_response_hours
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
WHERE owner_id IS NOT NULL
GROUP BY 1;

-- name: scoreboard_rep_leads
-- One rep's leads in the period, newest first, with how many there are in all (before the LIMIT).
SELECT l.id, l.merchant_name, l.status, l.submitted_at, l.first_response_at,
       round(date_diff('minute', l.submitted_at, l.first_response_at) / 60.0, 1) AS response_hours,
       r.name AS owner, l.contact_name, l.email, l.phone, l.interest_level, l.channel, l.vertical,
       count(*) OVER () AS total
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE l.owner_id = $rep_id
ORDER BY l.submitted_at DESC, l.id DESC
LIMIT $limit;

-- name: scoreboard_rep_deals
-- One rep's won opportunities that closed in the period (what the closer view counts), latest first.
SELECT o.id, o.name, l.merchant_name, o.amount::DOUBLE AS amount, o.created_at, o.closed_at, o.channel,
       o.vertical, o.lead_id, count(*) OVER () AS total
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels) o
JOIN leads l ON l.id = o.lead_id
WHERE o.owner_id = $rep_id AND o.won AND o.closed_at >= $d0 AND o.closed_at < $d1 + INTERVAL 1 DAY
ORDER BY o.closed_at DESC, o.id DESC
LIMIT $limit;
