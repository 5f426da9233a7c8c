-- Leads entered by hand (the new-lead form) and what the form offers.

-- name: lead_same_email
-- Leads already in the store with this email (case and spacing ignored: `$email_bidx` is its blind index), the
-- actor's own scope marked.
SELECT id, merchant_name, status, owner_id,
       ($scope_all OR list_contains($scope_reps, owner_id)) AS visible
FROM leads WHERE email_bidx = $email_bidx ORDER BY id LIMIT 3;

-- name: lead_city
SELECT id, name, region_id FROM cities WHERE lower(name) = lower(trim($city));

-- name: lead_insert
INSERT INTO leads (id, merchant_name, contact_name, email, phone, vertical, company_size, monthly_volume, city,
                   region_id, channel, campaign, landing_page, interest_level, language, budget_confirmed,
                   submitted_at, owner_id, assigned_at, status, status_changed_at, email_bidx, phone_bidx,
                   email_domain)
VALUES (nextval('leads_id_seq'), $merchant_name, $contact_name, $email, $phone, $vertical, $company_size,
        $monthly_volume, $city, $region_id, $channel, $campaign, $landing_page, $interest_level, $language,
        $budget_confirmed, $submitted_at, $owner_id, $assigned_at, 'new', $submitted_at, $email_bidx, $phone_bidx,
        $email_domain)
RETURNING id;

-- name: lead_first_stage
INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor, reason)
VALUES (nextval('lead_stage_changes_id_seq'), $lead_id, NULL, 'new', $changed_at, $actor, $reason);

-- name: lead_self_assignment
INSERT INTO lead_assignments (id, lead_id, rep_id, previous_rep_id, assigned_at, strategy, reason, actor)
VALUES (nextval('lead_assignments_id_seq'), $lead_id, $rep_id, NULL, $assigned_at, 'manual', $reason, $actor);

-- name: lead_form_options
-- What the form offers: the store's cities, and the verticals and channels its leads already use.
SELECT 'city' AS kind, name AS value FROM cities
UNION ALL SELECT DISTINCT 'vertical', vertical FROM leads WHERE vertical IS NOT NULL
UNION ALL SELECT DISTINCT 'channel', channel FROM leads WHERE channel IS NOT NULL
ORDER BY 1, 2;

-- name: lead_outcome
-- A lead as the form reports it after saving: stage, owner, why it went to them, score.
SELECT l.id, l.status, l.owner_id, r.name AS owner, a.reason AS assignment_reason, s.score, s.probability, s.band
FROM leads l
LEFT JOIN reps r ON r.id = l.owner_id
LEFT JOIN lead_scores s ON s.lead_id = l.id
LEFT JOIN (SELECT lead_id, reason FROM lead_assignments WHERE lead_id = $lead_id ORDER BY id DESC LIMIT 1) a
       ON a.lead_id = l.id
WHERE l.id = $lead_id;

-- name: lead_assignment_history
-- Each time the lead got an owner (or could not), newest first; only for a lead in the actor's scope.
SELECT a.assigned_at, r.name AS rep, p.name AS previous_rep, a.strategy, a.reason, a.actor
FROM lead_assignments a
JOIN leads l ON l.id = a.lead_id
LEFT JOIN reps r ON r.id = a.rep_id
LEFT JOIN reps p ON p.id = a.previous_rep_id
WHERE a.lead_id = $lead_id AND ($scope_all OR list_contains($scope_reps, l.owner_id))
ORDER BY a.id DESC;
