-- Interest levels: how the period's leads split into cold / warm / hot (missing or unrecognised: unknown),
-- by segment and over time, and how each level converts. Every read goes through scoped_leads.

-- name: interest_by_segment
WITH l AS (
    SELECT CASE WHEN lower(trim(interest_level)) IN ('cold', 'warm', 'hot') THEN lower(trim(interest_level))
                ELSE 'unknown' END AS level,
           channel, vertical, region_id
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
)
SELECT 'channel' AS dimension, coalesce(channel, '(none)') AS segment, level, count(*) AS leads
FROM l GROUP BY 2, 3
UNION ALL
SELECT 'vertical', coalesce(vertical, '(none)'), level, count(*)
FROM l GROUP BY 2, 3
UNION ALL
SELECT 'region', coalesce(r.name, '(none)'), level, count(*)
FROM l LEFT JOIN regions r ON r.id = l.region_id GROUP BY 2, 3;

-- name: interest_trend
SELECT date_trunc($bucket, submitted_at)::DATE AS period,
       CASE WHEN lower(trim(interest_level)) IN ('cold', 'warm', 'hot') THEN lower(trim(interest_level))
            ELSE 'unknown' END AS level,
       count(*) AS leads
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: interest_conversion
-- The period's leads by level and channel: how many, how many are won so far, how many are still open.
SELECT CASE WHEN lower(trim(interest_level)) IN ('cold', 'warm', 'hot') THEN lower(trim(interest_level))
            ELSE 'unknown' END AS level,
       coalesce(channel, '(none)') AS channel,
       count(*) AS leads,
       count(*) FILTER (WHERE status = 'won') AS won,
       count(*) FILTER (WHERE status IN ('new', 'mql', 'sql', 'opportunity')) AS open
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1, 2;

-- name: interest_days_to_win
-- How long won leads take from submission to won: leads won in the year to the period's end (same
-- filters and scope), submitted up to two years before it. Counting by win date, not by submission,
-- keeps slow wins in: the yardstick for how much of the period's conversion is still to come.
SELECT median(date_diff('day', submitted_at, status_changed_at)) AS median_days_to_win,
       count(*) AS won_leads
FROM scoped_leads($scope_all, $scope_reps, $y0, $d1, $teams, $regions, $reps, $verticals, $channels)
WHERE status = 'won' AND status_changed_at >= $w0 AND status_changed_at < $d1 + INTERVAL 1 DAY;
