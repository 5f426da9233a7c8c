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
