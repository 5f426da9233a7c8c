-- Deals (opportunities) as a rep, manager or admin works them: the open deals in scope, moving one, closing one.
-- Scope is the deal's owner: a rep sees their own deals, a manager their teams', the others every deal.

-- name: deals_open
SELECT o.id, l.merchant_name AS merchant, r.name AS owner, o.owner_id, r.team_id, o.lead_id, o.stage,
       o.amount::DOUBLE AS amount, o.expected_close, o.competitor, o.contacts, o.created_at,
       l.vertical, l.channel, l.region_id
FROM opportunities o
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE o.closed_at IS NULL
  AND ($scope_all OR list_contains($scope_reps, o.owner_id))
ORDER BY o.expected_close, o.id;

-- name: deals_for_change
-- One deal as a change starts from, whether or not it is in scope (the caller refuses it then), with its lead's
-- status and how many other open deals that lead has.
SELECT o.id, o.lead_id, o.owner_id, o.stage, o.amount::DOUBLE AS amount, o.expected_close, o.competitor,
       o.contacts, o.closed_at, o.won, o.win_reason, o.loss_reason, l.merchant_name AS merchant,
       l.status AS lead_status,
       ($scope_all OR list_contains($scope_reps, o.owner_id)) AS in_scope,
       (SELECT count(*) FROM opportunities x
        WHERE x.lead_id = o.lead_id AND x.id <> o.id AND x.closed_at IS NULL) AS other_open
FROM opportunities o
LEFT JOIN leads l ON l.id = o.lead_id
WHERE o.id = $deal_id;

-- name: deals_update_open
-- Only while the deal is still open (the caller has checked it within the same transaction).
UPDATE opportunities
SET stage = $stage, expected_close = $expected_close, amount = $amount, competitor = $competitor,
    contacts = $contacts
WHERE id = $deal_id AND closed_at IS NULL;

-- name: deals_close_open
UPDATE opportunities
SET stage = $stage, won = $won, closed_at = $now, win_reason = $win_reason, loss_reason = $loss_reason,
    competitor = $competitor
WHERE id = $deal_id AND closed_at IS NULL;

-- name: deals_insert_changes
INSERT INTO opportunity_changes (id, opportunity_id, field, from_value, to_value, changed_at, actor)
SELECT nextval('opportunity_changes_id_seq'), $deal_id, c.field, c.from_value, c.to_value, $now, $actor
FROM (SELECT unnest($fields) AS field, unnest($from_values) AS from_value, unnest($to_values) AS to_value) c;

-- name: deals_lead_for_opening
-- One lead as a new deal starts from, whether or not it is in scope (the caller refuses it then): its stage, owner
-- and the open deal it already has, if any. Scope as qualification.sql's: an owner in $scope_reps, or an
-- unassigned lead of one of $unassigned_regions (a manager's routing queue).
SELECT l.id, l.merchant_name AS merchant, l.status, l.owner_id, r.name AS owner,
       ($scope_all OR list_contains($scope_reps, l.owner_id)
           OR (l.owner_id IS NULL AND list_contains($unassigned_regions, l.region_id))) AS in_scope,
       o.id AS open_deal_id, o.stage AS open_deal_stage
FROM leads l
LEFT JOIN reps r ON r.id = l.owner_id
LEFT JOIN (SELECT lead_id, min(id) AS id, arg_min(stage, id) AS stage
           FROM opportunities WHERE closed_at IS NULL GROUP BY lead_id) o ON o.lead_id = l.id
WHERE l.id = $lead_id;

-- name: deals_cycle_days
-- The median days from opening to winning over the deals in scope won in [$since, $now): the default time to an
-- expected close.
SELECT median(epoch(o.closed_at - o.created_at) / 86400.0) AS days, count(*) AS n
FROM opportunities o
WHERE o.won AND o.closed_at >= $since AND o.closed_at < $now
  AND ($scope_all OR list_contains($scope_reps, o.owner_id));

-- name: deals_leads_without_deal
-- The leads in scope that could have a deal opened: still in an open stage ($statuses), owned, with no open
-- deal; the most advanced first, then the newest. `matching` counts them all before the limit.
SELECT l.id AS lead_id, l.merchant_name AS merchant, l.status, l.owner_id, r.name AS owner, l.vertical,
       l.submitted_at, count(*) OVER () AS matching
FROM leads l
JOIN reps r ON r.id = l.owner_id
WHERE list_contains($statuses, l.status)
  AND ($scope_all OR list_contains($scope_reps, l.owner_id))
  AND NOT EXISTS (SELECT 1 FROM opportunities o WHERE o.lead_id = l.id AND o.closed_at IS NULL)
  AND ($search = '' OR l.merchant_name ILIKE '%' || $search || '%')
ORDER BY list_position($statuses, l.status) DESC, l.submitted_at DESC, l.id
LIMIT $limit;

-- name: deals_insert_open
INSERT INTO opportunities (id, lead_id, owner_id, amount, stage, created_at, expected_close, discount_pct, products,
                           contacts, competitor)
VALUES (nextval('opportunities_id_seq'), $lead_id, $owner_id, $amount, $stage, $now, $expected_close, $discount_pct,
        $products, $contacts, $competitor)
RETURNING id;
