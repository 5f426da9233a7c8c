-- Deal risk: each deal's signs at a point in time (a weekly review of a closed deal while it was open, or now for
-- an open deal), the completed stage spells they are judged against, and the stored risks.

-- name: deal_risk_points
-- One row per (deal, as_of): every closed deal (closed by $now) at each weekly review while it was open, counted
-- back from $now; every open deal at $now. History and open deals have scopes of their own (history_all and _reps, open_all and _reps),
-- so that a model learns from every closed deal while only the open deals in the actor's scope come back.
-- Columns: the deal, its lead's segment, the stage it was in at as_of and since when, the last activity on its
-- lead before as_of, the activities and the email opens / clicks / replies in the 30 days before, the expected
-- close as of then and how often it had been pushed later, the contacts, and (closed deals) whether it was lost.
WITH deals AS (
    SELECT o.id, o.lead_id, o.owner_id, o.amount, o.stage, o.created_at, o.closed_at, o.won, o.expected_close,
           o.contacts,
           o.stage NOT IN ('closed_won', 'closed_lost') AND o.closed_at IS NULL AS is_open
    FROM opportunities o
    WHERE o.created_at <= $now
),
reviews AS (
    SELECT $now::TIMESTAMP - to_days(CAST(7 * g.k AS INTEGER)) AS as_of
    FROM generate_series(1, greatest(1, date_diff('day', (SELECT min(created_at) FROM deals), $now) // 7 + 1)) g(k)
),
points AS (
    SELECT d.id AS opportunity_id, r.as_of, false AS is_open
    FROM deals d JOIN reviews r ON r.as_of > d.created_at AND r.as_of < d.closed_at
    WHERE d.closed_at IS NOT NULL AND d.closed_at <= $now AND d.won IS NOT NULL
      AND ($history_all OR list_contains($history_reps, d.owner_id))
    UNION ALL
    SELECT d.id, $now::TIMESTAMP, true
    FROM deals d
    WHERE d.is_open AND ($open_all OR list_contains($open_reps, d.owner_id))
),
stage_moves AS (
    SELECT opportunity_id, changed_at, from_value, to_value
    FROM opportunity_changes WHERE field = 'stage'
),
first_stage AS (
    -- the stage before the first recorded move (NULL when that move is the deal's creation, "to discovery")
    SELECT opportunity_id, arg_min_null(from_value, changed_at) AS from_value FROM stage_moves GROUP BY 1
),
close_moves AS (
    SELECT opportunity_id, changed_at, from_value, to_value,
           try_cast(to_value AS DATE) > try_cast(from_value AS DATE) AS pushed
    FROM opportunity_changes WHERE field = 'expected_close'
),
first_close AS (
    SELECT opportunity_id, arg_min(from_value, changed_at) AS from_value FROM close_moves GROUP BY 1
),
base AS (
    SELECT p.opportunity_id, p.as_of, p.is_open, d.lead_id, d.owner_id, d.amount, d.created_at, d.closed_at,
           d.contacts, d.expected_close AS current_close,
           CASE WHEN p.is_open THEN NULL ELSE NOT d.won END AS lost,
           -- before its first recorded move a deal is in that move's from-stage; a deal without recorded moves is
           -- taken as in its first stage all along (its current one while it is open, else discovery)
           CASE WHEN fs.opportunity_id IS NOT NULL THEN fs.from_value
                WHEN d.is_open THEN d.stage ELSE 'discovery' END AS first_stage,
           fc.from_value AS first_close
    FROM points p
    JOIN deals d ON d.id = p.opportunity_id
    LEFT JOIN first_stage fs ON fs.opportunity_id = p.opportunity_id
    LEFT JOIN first_close fc ON fc.opportunity_id = p.opportunity_id
),
with_stage AS (
    SELECT b.*, coalesce(sm.to_value, b.first_stage) AS stage, coalesce(sm.changed_at, b.created_at) AS stage_since
    FROM base b ASOF LEFT JOIN stage_moves sm ON sm.opportunity_id = b.opportunity_id AND sm.changed_at <= b.as_of
),
with_close AS (
    SELECT w.*, coalesce(try_cast(cm.to_value AS DATE), try_cast(w.first_close AS DATE), w.current_close)
               AS expected_close_then
    FROM with_stage w
    ASOF LEFT JOIN close_moves cm ON cm.opportunity_id = w.opportunity_id AND cm.changed_at <= w.as_of
),
pushes AS (
    SELECT b.opportunity_id, b.as_of, count(*) FILTER (WHERE cm.pushed) AS close_pushes
    FROM base b JOIN close_moves cm ON cm.opportunity_id = b.opportunity_id AND cm.changed_at <= b.as_of
    GROUP BY 1, 2
),
last_touch AS (
    SELECT b.opportunity_id, b.as_of, a.occurred_at AS last_activity_at
    FROM base b ASOF JOIN activities a ON a.lead_id = b.lead_id AND a.occurred_at <= b.as_of
),
recent AS (
    SELECT b.opportunity_id, b.as_of, count(*) AS activities_30d
    FROM base b JOIN activities a ON a.lead_id = b.lead_id
     AND a.occurred_at > b.as_of - INTERVAL 30 DAY AND a.occurred_at <= b.as_of
    GROUP BY 1, 2
),
engaged AS (
    SELECT b.opportunity_id, b.as_of, count(*) AS email_engagements_30d
    FROM base b
    JOIN emails e ON e.lead_id = b.lead_id
    JOIN email_events ev ON ev.email_id = e.id
     AND ev.occurred_at > b.as_of - INTERVAL 30 DAY AND ev.occurred_at <= b.as_of
    GROUP BY 1, 2
)
SELECT w.opportunity_id, w.as_of, w.is_open, w.lead_id, w.owner_id, w.amount, w.created_at, w.closed_at, w.lost,
       w.stage, w.stage_since, w.expected_close_then AS expected_close, coalesce(p.close_pushes, 0) AS close_pushes,
       w.contacts, t.last_activity_at, coalesce(r.activities_30d, 0) AS activities_30d,
       coalesce(e.email_engagements_30d, 0) AS email_engagements_30d
FROM with_close w
LEFT JOIN pushes p USING (opportunity_id, as_of)
LEFT JOIN last_touch t USING (opportunity_id, as_of)
LEFT JOIN recent r USING (opportunity_id, as_of)
LEFT JOIN engaged e USING (opportunity_id, as_of)
WHERE w.stage IN ('discovery', 'proposal', 'negotiation')
ORDER BY w.as_of, w.opportunity_id;

-- name: deal_risk_spells
-- Completed spells in an open stage (discovery, proposal, negotiation) of deals in the history scope: the stage,
-- when the deal entered it and when it left (the next stage move, or the close), for the "usually moves within"
-- figure. A deal without recorded stage moves counts as one spell in its first stage, from creation to close.
WITH deals AS (
    SELECT o.id, o.created_at, o.closed_at, o.stage
    FROM opportunities o
    WHERE o.created_at <= $now AND ($history_all OR list_contains($history_reps, o.owner_id))
),
moves AS (
    SELECT c.opportunity_id, c.changed_at, c.from_value, c.to_value
    FROM opportunity_changes c JOIN deals d ON d.id = c.opportunity_id
    WHERE c.field = 'stage' AND c.changed_at <= $now
),
first_stage AS (
    SELECT opportunity_id, arg_min_null(from_value, changed_at) AS from_value FROM moves GROUP BY 1
),
events AS (
    -- the deal's creation in its first stage, unless its first recorded move is the creation itself (from nothing)
    SELECT d.id AS opportunity_id, d.created_at AS at,
           CASE WHEN f.opportunity_id IS NOT NULL THEN f.from_value
                WHEN d.stage IN ('closed_won', 'closed_lost') THEN 'discovery' ELSE d.stage END AS stage
    FROM deals d LEFT JOIN first_stage f ON f.opportunity_id = d.id
    UNION ALL
    SELECT opportunity_id, changed_at, to_value FROM moves
),
spells AS (
    SELECT e.opportunity_id, e.stage, e.at AS entered_at,
           lead(e.at) OVER (PARTITION BY e.opportunity_id ORDER BY e.at, e.stage) AS next_at
    FROM events e
    WHERE e.stage IS NOT NULL
)
SELECT s.opportunity_id, s.stage, s.entered_at, least(s.next_at, d.closed_at) AS left_at  -- least skips a NULL
FROM spells s JOIN deals d ON d.id = s.opportunity_id
WHERE s.stage IN ('discovery', 'proposal', 'negotiation') AND least(s.next_at, d.closed_at) <= $now;

-- name: deal_risk_deal_labels
-- What a page shows beside an open deal's risk: its lead, owner, merchant and rep.
SELECT o.id AS opportunity_id, o.lead_id, o.owner_id, l.merchant_name, r.name AS rep, l.vertical
FROM opportunities o
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE list_contains($ids, o.id) AND ($scope_all OR list_contains($scope_reps, o.owner_id));

-- name: deal_risk_clear
DELETE FROM deal_risks;

-- name: deal_risk_insert
-- The registered frame _deal_risks holds the run's rows.
INSERT INTO deal_risks (opportunity_id, level, score, reasons, computed_at)
SELECT opportunity_id, level, score, reasons, computed_at FROM _deal_risks;

-- name: deal_risk_run_insert
INSERT INTO analytics_runs (kind, as_of, computed_at, payload) VALUES ('deal_risk', $as_of, $computed_at, $payload);

-- name: deal_risk_latest_run
SELECT as_of, computed_at, payload FROM analytics_runs WHERE kind = 'deal_risk' ORDER BY computed_at DESC, id DESC
LIMIT 1;

-- name: deal_risk_stored
-- The stored risks of the open deals in scope, riskiest first.
SELECT d.opportunity_id, o.lead_id, o.owner_id, r.name AS rep, l.merchant_name, l.vertical, o.stage, o.amount,
       o.expected_close, d.level, d.score, d.reasons, d.computed_at
FROM deal_risks d
JOIN opportunities o ON o.id = d.opportunity_id
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE ($scope_all OR list_contains($scope_reps, o.owner_id)) AND o.closed_at IS NULL
ORDER BY d.score DESC, o.amount DESC, d.opportunity_id;

-- name: fresh_deal_risk
SELECT max(computed_at) FROM analytics_runs WHERE kind = 'deal_risk';
