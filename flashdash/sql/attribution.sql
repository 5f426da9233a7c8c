-- Revenue attribution: the touches that came before each won deal.

-- name: attribution_touches
-- Won deals in scope and the filters that closed in the period, each with its touches up to the win:
--   the lead's submission (source: its channel; campaign: its campaign; no rep),
--   every activity logged on the lead (source: "sales " + its type; the rep who logged it; emails sent from the app
--   are logged as activities too),
--   every sequence email sent to the lead (source: "sequence email"; campaign: "sequence: " + the sequence's name;
--   the rep it was sent for). These log no activity, so nothing is counted twice.
-- A rep outside the actor's scope is named only as such.
WITH won AS (
    SELECT o.id AS opportunity_id, o.lead_id, o.amount, o.closed_at AS won_at
    FROM scoped_opportunities($scope_all, $scope_reps, $teams, $regions, $reps, $verticals, $channels) o
    WHERE o.won AND o.closed_at >= $d0 AND o.closed_at < $d1 + INTERVAL 1 DAY
),
touches AS (
    SELECT w.opportunity_id, l.submitted_at AS touched_at, 'submission' AS kind,
           coalesce(l.channel, '(unknown channel)') AS source, coalesce(l.campaign, '(no campaign)') AS campaign,
           NULL::INTEGER AS rep_id
    FROM won w JOIN leads l ON l.id = w.lead_id
    UNION ALL
    SELECT w.opportunity_id, a.occurred_at, 'activity', 'sales ' || a.type, '(sales touch, no campaign)', a.rep_id
    FROM won w JOIN activities a ON a.lead_id = w.lead_id AND a.occurred_at <= w.won_at
    UNION ALL
    SELECT w.opportunity_id, e.sent_at, 'sequence email', 'sequence email',
           'sequence: ' || coalesce(s.name, '(deleted sequence)'), e.rep_id
    FROM won w
    JOIN emails e ON e.lead_id = w.lead_id AND e.status = 'sent' AND e.enrollment_id IS NOT NULL
     AND e.sent_at <= w.won_at
    LEFT JOIN sequence_enrollments en ON en.id = e.enrollment_id
    LEFT JOIN sequences s ON s.id = en.sequence_id
)
SELECT w.opportunity_id, w.amount, w.won_at, t.touched_at, t.kind, t.source, t.campaign,
       CASE WHEN t.rep_id IS NULL THEN '(no rep: marketing)'
            WHEN $scope_all OR list_contains($scope_reps, t.rep_id) THEN coalesce(r.name, '(unknown rep)')
            ELSE '(a rep outside your view)' END AS rep
FROM won w
JOIN touches t USING (opportunity_id)
LEFT JOIN reps r ON r.id = t.rep_id
ORDER BY w.opportunity_id, t.touched_at, t.kind;
