-- The lead scoring engine: score rules per team, the scoring settings, one lead's score written in place.
-- Lead features come from pred_lead_features (predictive.sql): training and scoring read the same query.

-- name: scoring_rules_all
-- Every stored rule, the store-wide set (team_id NULL) first, then each team's, in the order they were saved.
SELECT r.id, r.team_id, t.name AS team, r.label, r.field, r.op, r.value, r.points, r.active, r.updated_by,
       r.updated_at
FROM score_rules r LEFT JOIN teams t ON t.id = r.team_id
ORDER BY r.team_id NULLS FIRST, r.id;

-- name: scoring_rules_delete
DELETE FROM score_rules WHERE team_id IS NOT DISTINCT FROM $team_id;

-- name: scoring_rule_insert
INSERT INTO score_rules (id, team_id, label, field, op, value, points, active, updated_by, updated_at)
VALUES (nextval('score_rules_id_seq'), $team_id, $label, $field, $op, $value, $points, $active, $updated_by,
        $updated_at)
RETURNING id;

-- name: scoring_teams
SELECT id AS team_id, name AS team FROM teams ORDER BY id;

-- name: scoring_managed_teams
-- The teams a manager leads (the same rule as their row scope: teams.manager_id).
SELECT id AS team_id FROM teams WHERE manager_id = $rep_id ORDER BY id;

-- name: scoring_rep_team
SELECT team_id FROM reps WHERE id = $rep_id AND team_id IS NOT NULL;

-- name: scoring_settings
SELECT key, value FROM settings WHERE starts_with(key, 'scoring.') ORDER BY key;

-- name: scoring_lead_exists
SELECT count(*) FROM leads WHERE id = $lead_id;

-- name: scoring_upsert_score
-- One lead's score replaced in the caller's transaction (real-time rescoring).
INSERT OR REPLACE INTO lead_scores (lead_id, probability, band, raises, lowers, scored_by, card_id, scored_at,
                                    score, rule_points, model_key, factors)
VALUES ($lead_id, $probability, $band, $raises, $lowers, $scored_by, $card_id, $scored_at, $score, $rule_points,
        $model_key, $factors);

-- name: scoring_delete_score
-- A lead that left the open stages has no score (lead_scores holds open leads only).
DELETE FROM lead_scores WHERE lead_id = $lead_id;
