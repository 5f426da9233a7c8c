-- The executive summary: headline figures for a period, their trend, and what drove the change.

-- name: exec_lead_kpis
-- Submissions in the period; how many of that cohort were won by $cutoff; median first-response time.
-- 'won' is final, so status_changed_at of a won lead is when it was won.
SELECT count(*) AS submissions,
       count(*) FILTER (WHERE status = 'won' AND status_changed_at < $cutoff) AS won_leads,
       median(date_diff('minute', submitted_at, first_response_at)) / 60.0 AS median_response_hours
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels);

-- name: exec_opportunity_kpis
-- Won revenue closed in the period and the open pipeline as it stood at the period's end.
SELECT coalesce(sum(amount) FILTER (WHERE won AND closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY), 0)::DOUBLE
           AS won_revenue,
       count(*) FILTER (WHERE won AND closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY) AS won_deals,
       coalesce(sum(amount) FILTER (WHERE created_at < $d1 + INTERVAL 1 DAY
                                      AND (closed_at IS NULL OR closed_at >= $d1 + INTERVAL 1 DAY)), 0)::DOUBLE
           AS pipeline_value
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels);

-- name: exec_customer_kpis
SELECT count(*) FILTER (WHERE won_at <= $d1 AND (churned_at IS NULL OR churned_at > $d1)) AS active_customers
FROM scoped_customers($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels);

-- name: exec_lead_trend
SELECT date_trunc($bucket, submitted_at)::DATE AS period,
       count(*) AS submissions,
       count(*) FILTER (WHERE status = 'won') AS won_leads,
       median(date_diff('minute', submitted_at, first_response_at)) / 60.0 AS median_response_hours
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1 ORDER BY 1;

-- name: exec_won_trend
SELECT date_trunc($bucket, closed_at)::DATE AS period, sum(amount)::DOUBLE AS won_revenue
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
WHERE won AND closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY
GROUP BY 1 ORDER BY 1;

-- name: exec_snapshot_trend
-- Open pipeline and active customers as they stood at the end of each bucket.
WITH ends AS (
    SELECT least(b + CASE $bucket WHEN 'day' THEN INTERVAL 1 DAY WHEN 'week' THEN INTERVAL 7 DAY
                                  ELSE INTERVAL 1 MONTH END, $d1 + INTERVAL 1 DAY) AS cutoff,
           b::DATE AS period
    FROM generate_series(date_trunc($bucket, $d0::TIMESTAMP), $d1::TIMESTAMP,
                         CASE $bucket WHEN 'day' THEN INTERVAL 1 DAY WHEN 'week' THEN INTERVAL 7 DAY
                                      ELSE INTERVAL 1 MONTH END) AS g(b)
),
opps AS (SELECT created_at, closed_at, amount
         FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)),
custs AS (SELECT won_at, churned_at
          FROM scoped_customers($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels))
SELECT e.period,
       (SELECT coalesce(sum(amount), 0)::DOUBLE FROM opps
         WHERE created_at < e.cutoff AND (closed_at IS NULL OR closed_at >= e.cutoff)) AS pipeline_value,
       (SELECT count(*) FROM custs
         WHERE won_at < e.cutoff AND (churned_at IS NULL OR churned_at >= e.cutoff)) AS active_customers
FROM ends e ORDER BY 1;

-- name: exec_leads_by_segment
-- Submissions by channel and by team, for this period and the one before (the drivers of change).
WITH cur AS (SELECT * FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)),
     prev AS (SELECT * FROM scoped_leads($scope_all, $scope_reps, $p0, $p1, $teams, $regions, $reps, $verticals, $channels))
SELECT 'channel' AS dimension, coalesce(channel, '(none)') AS segment, count(*) AS current, 0 AS previous FROM cur GROUP BY 2
UNION ALL
SELECT 'channel', coalesce(channel, '(none)'), 0, count(*) FROM prev GROUP BY 2
UNION ALL
SELECT 'team', coalesce(t.name, '(unassigned)'), count(*), 0 FROM cur LEFT JOIN teams t ON t.id = cur.team_id GROUP BY 2
UNION ALL
SELECT 'team', coalesce(t.name, '(unassigned)'), 0, count(*) FROM prev LEFT JOIN teams t ON t.id = prev.team_id GROUP BY 2;

-- name: exec_won_by_segment
WITH o AS (SELECT * FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
           WHERE won AND closed_at >= $p0 AND closed_at < $d1 + INTERVAL 1 DAY)
SELECT 'channel' AS dimension, coalesce(channel, '(none)') AS segment,
       coalesce(sum(amount) FILTER (WHERE closed_at >= $d0), 0)::DOUBLE AS current,
       coalesce(sum(amount) FILTER (WHERE closed_at < $d0), 0)::DOUBLE AS previous
FROM o GROUP BY 2
UNION ALL
SELECT 'team', coalesce(t.name, '(unassigned)'),
       coalesce(sum(amount) FILTER (WHERE closed_at >= $d0), 0)::DOUBLE,
       coalesce(sum(amount) FILTER (WHERE closed_at < $d0), 0)::DOUBLE
FROM o LEFT JOIN teams t ON t.id = o.team_id GROUP BY 2;
