-- Revenue intelligence (flashdash/revenue.py): the deals and stage spans in the actor's scope that pipeline
-- velocity and win/loss are computed from, the stored velocity runs, and the demo's deal history
-- (flashdash/demo_revenue.py).

-- name: revenue_deals
-- Every deal in scope (and the page's filters) that was alive in [$d0, $d1]: created by its end and not closed
-- before its start. A deal without an owner's team or a vertical is grouped as unknown, never dropped.
SELECT o.id, o.owner_id AS rep_id, coalesce(rp.name, '(no owner)') AS rep, o.team_id,
       coalesce(t.name, '(no team)') AS team, coalesce(nullif(trim(lower(o.vertical)), ''), '(unknown)') AS vertical,
       coalesce(l.company_size, '(unknown)') AS company_size, o.amount::DOUBLE AS amount, o.stage, o.created_at,
       o.closed_at, coalesce(o.won, o.stage = 'closed_won') AS won, o.loss_reason, o.win_reason, o.competitor,
       o.discount_pct, o.products, o.contacts
FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels) o
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps rp ON rp.id = o.owner_id
LEFT JOIN teams t ON t.id = o.team_id
WHERE o.created_at < $d1 + INTERVAL 1 DAY
  AND (o.closed_at IS NULL OR o.closed_at >= $d0)
ORDER BY o.id;

-- name: revenue_stage_spans
-- Each stay of a deal in scope in an open stage that ended in [$d0, $d1]: the stage, when it was entered and
-- left, and where the deal went next. A deal with no recorded first stage starts in discovery at its creation.
WITH d AS (
    SELECT id, created_at
    FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels)
), c AS (
    SELECT ch.opportunity_id, ch.id AS seq, ch.to_value AS stage, ch.changed_at
    FROM opportunity_changes ch JOIN d ON d.id = ch.opportunity_id
    WHERE ch.field = 'stage'
    UNION ALL
    SELECT d.id, -1, 'discovery', d.created_at FROM d
    WHERE NOT EXISTS (SELECT 1 FROM opportunity_changes x
                      WHERE x.opportunity_id = d.id AND x.field = 'stage' AND x.from_value IS NULL)
), s AS (
    SELECT opportunity_id, stage, changed_at AS entered_at,
           lead(changed_at) OVER w AS left_at, lead(stage) OVER w AS next_stage
    FROM c
    WINDOW w AS (PARTITION BY opportunity_id ORDER BY changed_at, seq)
)
SELECT s.opportunity_id AS id, s.stage, s.entered_at, s.left_at, s.next_stage
FROM s
WHERE s.stage IN ('discovery', 'proposal', 'negotiation')
  AND s.left_at >= $d0 AND s.left_at < $d1 + INTERVAL 1 DAY
ORDER BY s.opportunity_id, s.entered_at;

-- name: revenue_run_insert
INSERT INTO analytics_runs (id, kind, as_of, computed_at, payload)
VALUES (nextval('analytics_runs_id_seq'), $kind, $as_of, $computed_at, $payload)
RETURNING id;

-- name: revenue_prune_runs
-- Keep the latest $keep runs of a kind (each velocity run holds every split's tables: ~130 KB at scale S).
DELETE FROM analytics_runs
WHERE kind = $kind
  AND id NOT IN (SELECT id FROM analytics_runs WHERE kind = $kind ORDER BY as_of DESC, id DESC LIMIT $keep)
RETURNING id;

-- name: revenue_latest_run
SELECT id, as_of, computed_at, payload
FROM analytics_runs
WHERE kind = $kind
ORDER BY as_of DESC, id DESC
LIMIT 1;

-- name: fresh_velocity
-- When the velocity the Revenue page reads was last refreshed (the refresh_velocity job's figure).
SELECT max(as_of) FROM analytics_runs WHERE kind = 'velocity';

-- name: demo_revenue_deals
-- The demo's deals with what their details are drawn from (flashdash/demo_revenue.py), in id order.
SELECT o.id, o.amount, o.stage, o.created_at, o.expected_close, o.closed_at, o.won, o.loss_reason,
       l.vertical, l.company_size, r.name AS owner
FROM opportunities o
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
ORDER BY o.id;

-- name: demo_revenue_update
UPDATE opportunities SET
    competitor = d.competitor,
    win_reason = d.win_reason,
    discount_pct = d.discount_pct,
    products = d.products,
    contacts = d.contacts
FROM _demo_revenue_details d
WHERE opportunities.id = d.id;

-- name: demo_revenue_insert
INSERT INTO opportunity_changes (id, opportunity_id, field, from_value, to_value, changed_at, actor)
SELECT id, opportunity_id, field, from_value, to_value, changed_at, actor FROM _demo_revenue_changes;
