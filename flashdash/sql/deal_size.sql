-- Deal size: won deals with what the merchant and the deal looked like, and open deals against similar won deals.

-- name: deal_size_won
-- Won deals in scope that closed by $now, with the lead's vertical, company size and monthly volume, and the deal's
-- products and discount.
SELECT o.id AS opportunity_id, o.amount, o.closed_at, l.vertical, l.company_size, l.monthly_volume, o.products,
       o.discount_pct
FROM opportunities o
JOIN leads l ON l.id = o.lead_id
WHERE o.won AND o.closed_at <= $now AND o.amount > 0
  AND ($scope_all OR list_contains($scope_reps, o.owner_id))
ORDER BY o.closed_at, o.id;

-- name: deal_size_similar
-- Open deals in scope, each with the won deals (every team's, closed by $now) like it: the same vertical and
-- company size, and a monthly volume between 1/$band and $band times its own; their count and amount quartiles.
WITH open_deals AS (
    SELECT o.id AS opportunity_id, o.lead_id, o.owner_id, o.amount, o.stage, l.merchant_name, l.vertical,
           l.company_size, l.monthly_volume, r.name AS rep
    FROM opportunities o
    JOIN leads l ON l.id = o.lead_id
    LEFT JOIN reps r ON r.id = o.owner_id
    WHERE o.closed_at IS NULL AND o.stage NOT IN ('closed_won', 'closed_lost') AND o.created_at <= $now
      AND ($scope_all OR list_contains($scope_reps, o.owner_id))
),
won AS (
    SELECT o.amount, l.vertical, l.company_size, l.monthly_volume
    FROM opportunities o JOIN leads l ON l.id = o.lead_id
    WHERE o.won AND o.closed_at <= $now AND o.amount > 0 AND l.monthly_volume > 0
),
alike AS (
    SELECT d.opportunity_id, count(*) AS similar_won,
           quantile_cont(w.amount, 0.25) AS p25, quantile_cont(w.amount, 0.5) AS p50,
           quantile_cont(w.amount, 0.75) AS p75
    FROM open_deals d
    JOIN won w ON w.vertical = d.vertical AND w.company_size = d.company_size
     AND w.monthly_volume >= d.monthly_volume / $band AND w.monthly_volume <= d.monthly_volume * $band
    GROUP BY 1
)
SELECT d.*, coalesce(s.similar_won, 0) AS similar_won, s.p25, s.p50, s.p75
FROM open_deals d LEFT JOIN alike s USING (opportunity_id)
ORDER BY d.opportunity_id;
