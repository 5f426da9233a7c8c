-- Reads behind the later-phase pages (Leads, Activities, Revenue, Customers) as they stand today.

-- name: leads_list
SELECT l.id, l.submitted_at, l.merchant_name, l.contact_name, l.email, l.phone, l.vertical, l.channel,
       l.interest_level, l.status, r.name AS owner, l.city
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE $search = '' OR l.merchant_name ILIKE '%' || $search || '%' OR l.external_id ILIKE '%' || $search || '%'
ORDER BY l.submitted_at DESC
LIMIT $limit;

-- name: leads_status_counts
SELECT status, count(*) AS leads
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1 ORDER BY 2 DESC;

-- name: activities_recent
-- Only activities on leads in scope now: an activity logged on a lead that has since gone to another rep
-- names that lead, which is no longer the logger's to see (it still counts in their activity figures).
SELECT a.occurred_at, a.type, a.outcome, a.duration_min, r.name AS rep, l.merchant_name, a.notes
FROM scoped_activities($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) a
LEFT JOIN reps r ON r.id = a.rep_id
LEFT JOIN leads l ON l.id = a.lead_id
WHERE $scope_all OR list_contains($scope_reps, l.owner_id)
ORDER BY a.occurred_at DESC
LIMIT $limit;

-- name: activities_by_type_week
SELECT date_trunc('week', occurred_at)::DATE AS week, type, count(*) AS activities
FROM scoped_activities($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1, 2 ORDER BY 1, 2;

-- name: pipeline_by_stage
SELECT stage, count(*) AS deals, sum(amount)::DOUBLE AS amount
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
WHERE closed_at IS NULL
GROUP BY 1 ORDER BY list_position(['discovery', 'proposal', 'negotiation'], stage);

-- name: won_lost_by_month
SELECT date_trunc('month', closed_at)::DATE AS month,
       CASE WHEN won THEN 'won' ELSE 'lost' END AS outcome,
       count(*) AS deals, sum(amount)::DOUBLE AS amount
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
WHERE closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY
GROUP BY 1, 2 ORDER BY 1, 2;

-- name: loss_reasons
SELECT coalesce(loss_reason, '(not given)') AS reason, count(*) AS deals
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
WHERE won = false AND closed_at >= $d0 AND closed_at < $d1 + INTERVAL 1 DAY
GROUP BY 1 ORDER BY 2 DESC;

-- name: customers_usage_weekly
WITH c AS (SELECT id FROM scoped_customers($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels))
SELECT date_trunc('week', u.day)::DATE AS week, sum(u.payment_count)::BIGINT AS payments,
       sum(u.payment_volume)::DOUBLE AS volume, count(DISTINCT u.customer_id) AS active_customers
FROM customer_usage u JOIN c ON c.id = u.customer_id
WHERE u.day >= $d0 AND u.day <= $d1
GROUP BY 1 ORDER BY 1;

-- name: customers_list
WITH c AS (SELECT * FROM scoped_customers($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)),
     u AS (SELECT customer_id, sum(payment_volume)::DOUBLE AS volume_90d, sum(payment_count)::BIGINT AS payments_90d
           FROM customer_usage WHERE day > $d1 - INTERVAL 90 DAY AND day <= $d1 GROUP BY 1)
SELECT c.id, c.merchant_name, c.vertical, r.name AS owner, c.won_at, c.churned_at,
       coalesce(u.payments_90d, 0) AS payments_90d, coalesce(u.volume_90d, 0) AS volume_90d,
       c.lead_type, c.behaviour_profile, c.business_type, c.declared_monthly_revenue
FROM c LEFT JOIN u ON u.customer_id = c.id LEFT JOIN reps r ON r.id = c.owner_id
ORDER BY volume_90d DESC, c.won_at DESC, c.id DESC
LIMIT $limit;
