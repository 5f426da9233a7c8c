-- Phase 1's targets, measured: lead response time, lead-to-opportunity conversion, rep productivity.

-- name: impact_leads
-- The period's lead cohort as it stood at $cutoff: hours to the first activity (if one came by then) and
-- whether it had reached the opportunity stage (or won) by then.
WITH l AS (
    SELECT id, submitted_at
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE submitted_at < $cutoff
),
first_act AS (
    SELECT a.lead_id, min(a.occurred_at) AS first_at
    FROM activities a JOIN l ON l.id = a.lead_id
    WHERE a.occurred_at >= l.submitted_at AND a.occurred_at < $cutoff
    GROUP BY 1
),
opp AS (
    SELECT lead_id, min(t) AS opp_at FROM (
        SELECT s.lead_id, s.changed_at AS t FROM lead_stage_changes s JOIN l ON l.id = s.lead_id
        WHERE s.to_status IN ('opportunity', 'won')
        UNION ALL
        SELECT o.lead_id, o.created_at FROM opportunities o JOIN l ON l.id = o.lead_id
    ) GROUP BY 1
)
SELECT count(*) AS leads,
       count(f.first_at) AS responded,
       median(date_diff('minute', l.submitted_at, f.first_at)) / 60.0 AS median_response_hours,
       count(*) FILTER (WHERE f.first_at < l.submitted_at + INTERVAL 1 DAY) AS within_day,
       count(*) FILTER (WHERE l.submitted_at < $cutoff - INTERVAL 1 DAY) AS day_old,
       count(*) FILTER (WHERE o.opp_at < $cutoff) AS to_opportunity
FROM l
LEFT JOIN first_act f ON f.lead_id = l.id
LEFT JOIN opp o ON o.lead_id = l.id;

-- name: impact_productivity
-- Activities logged in the period per selling rep and working day (the rep's own working days).
WITH acts AS (
    SELECT rep_id, count(*) AS activities, count(DISTINCT lead_id) AS leads_worked
    FROM scoped_activities($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE rep_id IS NOT NULL
    GROUP BY 1
),
sellers AS (
    SELECT r.id, coalesce(r.working_days, 'mon,tue,wed,thu,fri') AS days
    FROM reps r
    WHERE r.title <> 'manager' AND ($scope_all OR list_contains($scope_reps, r.id))
      AND (len($teams) = 0 OR list_contains($teams, r.team_id))
      AND (len($reps) = 0 OR list_contains($reps, r.id))
      AND r.id IN (SELECT rep_id FROM acts)
),
days AS (
    SELECT s.id, count(*) AS working_days
    FROM sellers s, generate_series($d0::TIMESTAMP, $d1::TIMESTAMP, INTERVAL 1 DAY) g(d)
    WHERE list_contains(string_split(s.days, ','), lower(strftime(g.d, '%a')))
    GROUP BY 1
)
SELECT count(*) AS reps,
       coalesce(sum(a.activities), 0)::BIGINT AS activities,
       coalesce(sum(a.leads_worked), 0)::BIGINT AS leads_worked,
       coalesce(sum(d.working_days), 0)::BIGINT AS rep_days
FROM sellers s JOIN acts a ON a.rep_id = s.id LEFT JOIN days d ON d.id = s.id;

-- name: impact_weekly
-- The three figures week by week over both periods, for the trend chart (each week's cohort as of today).
WITH l AS (
    SELECT id, submitted_at
    FROM scoped_leads($scope_all, $scope_reps, $w0, $d1, $teams, $regions, $reps, $verticals, $channels)
),
first_act AS (
    SELECT a.lead_id, min(a.occurred_at) AS first_at
    FROM activities a JOIN l ON l.id = a.lead_id
    WHERE a.occurred_at >= l.submitted_at
    GROUP BY 1
)
SELECT date_trunc('week', l.submitted_at)::DATE AS week,
       count(*) AS leads,
       median(date_diff('minute', l.submitted_at, f.first_at)) / 60.0 AS median_response_hours
FROM l LEFT JOIN first_act f ON f.lead_id = l.id
GROUP BY 1 ORDER BY 1;
