-- The predictive foundation: the conversion model's features, labels and model cards.

-- name: pred_lead_features
-- One row per lead in scope with the features known early in its life, and when (if ever) it was won.
-- Training and scoring both read this query, so the model sees the same features in both.
-- The model's activity counts and first response cover the first 7 days after submission only: later
-- activity is a symptom of the outcome (a won deal has meetings), not an early sign of it. The all_* counts
-- and the raw contact fields are for the score's rules (flashdash.scoring), never model features.
WITH l AS (
    SELECT *
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE list_contains($statuses, status)
      AND (len($lead_ids) = 0 OR list_contains($lead_ids, id))  -- [] is every lead; a few ids: real-time rescoring
),
acts AS (
    SELECT a.lead_id,
           count(*) FILTER (WHERE a.type = 'call' AND week1) AS calls_7d,
           count(*) FILTER (WHERE a.type = 'email' AND week1) AS emails_7d,
           count(*) FILTER (WHERE a.type = 'meeting' AND week1) AS meetings_7d,
           count(*) FILTER (WHERE a.type = 'demo' AND week1) AS demos_7d,
           -- every activity so far: what the score's rules count (the model sees the first week only)
           count(*) FILTER (WHERE a.type = 'call') AS all_calls,
           count(*) FILTER (WHERE a.type = 'email') AS all_emails,
           count(*) FILTER (WHERE a.type = 'meeting') AS all_meetings,
           count(*) FILTER (WHERE a.type = 'demo') AS all_demos
    FROM (
        SELECT a.lead_id, a.type,
               a.occurred_at >= l.submitted_at AND a.occurred_at < l.submitted_at + INTERVAL 7 DAY AS week1
        FROM activities a
        JOIN l ON l.id = a.lead_id
    ) a
    GROUP BY a.lead_id
),
resp AS (
    -- The first response as known a week after submission: a later one counts as none, like the activities.
    SELECT id, date_diff('minute', submitted_at, first_response_at) / 60.0 AS response_hours
    FROM l WHERE first_response_at < submitted_at + INTERVAL 7 DAY
),
wins AS (
    -- The earliest sign of a win: a stage change to won, the lead's own status, or a won opportunity.
    SELECT lead_id, min(t) AS won_at
    FROM (
        SELECT s.lead_id, s.changed_at AS t FROM lead_stage_changes s JOIN l ON l.id = s.lead_id
        WHERE s.to_status = 'won'
        UNION ALL
        SELECT id, status_changed_at FROM l WHERE status = 'won' AND status_changed_at IS NOT NULL
        UNION ALL
        SELECT o.lead_id, o.closed_at FROM opportunities o JOIN l ON l.id = o.lead_id
        WHERE o.won AND o.closed_at IS NOT NULL
    )
    GROUP BY lead_id
)
SELECT l.id, l.merchant_name, l.contact_name, l.email, l.owner_id, rep.name AS owner, l.status,
       l.submitted_at, w.won_at,
       coalesce(l.interest_level, '(none)') AS interest_level,
       coalesce(l.channel, '(none)') AS channel,
       coalesce(l.vertical, '(none)') AS vertical,
       coalesce(l.company_size, '(none)') AS company_size,
       coalesce(g.name, '(none)') AS region,
       coalesce(l.landing_page, '(none)') AS landing_page,
       (coalesce(l.campaign, '') <> '')::DOUBLE AS has_campaign,
       ln(1 + greatest(l.monthly_volume, 0)) AS log_volume,
       l.monthly_volume,
       r.response_hours,
       ln(1 + greatest(r.response_hours, 0)) AS log_response_hours,
       (r.response_hours IS NULL)::DOUBLE AS response_missing,
       coalesce(a.calls_7d, 0)::DOUBLE AS calls_7d,
       coalesce(a.emails_7d, 0)::DOUBLE AS emails_7d,
       coalesce(a.meetings_7d, 0)::DOUBLE AS meetings_7d,
       coalesce(a.demos_7d, 0)::DOUBLE AS demos_7d,
       -- what the rules of the score read (not model features: training ignores them)
       l.team_id, l.phone IS NOT NULL AS has_phone, l.email_domain, l.language, l.city, l.campaign, l.budget_confirmed, l.first_response_at,
       coalesce(a.all_calls, 0) AS all_calls, coalesce(a.all_emails, 0) AS all_emails,
       coalesce(a.all_meetings, 0) AS all_meetings, coalesce(a.all_demos, 0) AS all_demos,
       -- the score the last scoring run stored (not a feature: training ignores it)
       s.probability AS stored_probability, s.band AS stored_band, s.raises AS stored_raises,
       s.lowers AS stored_lowers, s.scored_by AS stored_scored_by, s.scored_at AS stored_scored_at,
       s.score AS stored_score, s.rule_points AS stored_rule_points, s.model_key AS stored_model_key,
       s.card_id AS stored_card_id, s.factors AS stored_factors
FROM l
LEFT JOIN lead_scores s ON s.lead_id = l.id
LEFT JOIN acts a ON a.lead_id = l.id
LEFT JOIN resp r ON r.id = l.id
LEFT JOIN wins w ON w.lead_id = l.id
LEFT JOIN regions g ON g.id = l.region_id
LEFT JOIN reps rep ON rep.id = l.owner_id
ORDER BY l.submitted_at, l.id;

-- name: pred_insert_card
INSERT INTO model_cards (id, model, trained_at, card)
VALUES (nextval('model_cards_id_seq'), $model, $trained_at, $card)
RETURNING id;

-- name: pred_latest_card
-- The last one written: the model file on disk belongs to it (even if a pinned clock wrote an earlier trained_at).
SELECT id, card FROM model_cards WHERE model = $model ORDER BY id DESC LIMIT 1;

-- name: pred_run_cards
-- Cards written after a global card whose model name starts with $prefix: the vertical models of its run
-- (each names its global card; the caller keeps those that name this one).
SELECT id, model, card FROM model_cards WHERE starts_with(model, $prefix) AND id > $after ORDER BY id;

-- name: pred_replace_scores
-- The scoring run's result replaces the previous one whole, in the caller's transaction.
DELETE FROM lead_scores;

-- name: pred_scores_count
SELECT count(*) FROM lead_scores;
