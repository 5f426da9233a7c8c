-- Submission tracking: submissions over time by a chosen dimension, headline counts, the searchable
-- list, and one submission's history. Every read goes through scoped_leads (filters + row scope).
-- $dimension is one of channel | campaign | vertical (checked by flashdash.submissions); a missing
-- value is the segment '(none)'. $segments narrows to the clicked segments (empty: all).

-- name: sub_by_period_segment
SELECT date_trunc($bucket, submitted_at)::DATE AS period,
       coalesce(CASE $dimension WHEN 'channel' THEN channel WHEN 'campaign' THEN campaign ELSE vertical END,
                '(none)') AS segment,
       count(*) AS submissions
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: sub_headline
-- Submissions, how many have had a first response, and the median time to it (responded leads only).
WITH l AS (
    SELECT submitted_at, first_response_at,
           coalesce(CASE $dimension WHEN 'channel' THEN channel WHEN 'campaign' THEN campaign ELSE vertical END,
                    '(none)') AS segment
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
)
SELECT count(*) AS submissions,
       count(first_response_at) AS responded,
       median(date_diff('minute', submitted_at, first_response_at)) / 60.0 AS median_response_hours
FROM l
WHERE len($segments) = 0 OR list_contains($segments, segment);

-- name: sub_list
-- Newest first. $pattern is an ILIKE pattern with % and _ escaped by backslash; the email is searched only
-- when $search_email (roles that see contact details), so a masked email cannot be probed by search, and
-- exactly, by its blind index $email_bidx (it is stored sealed).
WITH l AS (
    SELECT *,
           coalesce(CASE $dimension WHEN 'channel' THEN channel WHEN 'campaign' THEN campaign ELSE vertical END,
                    '(none)') AS segment
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
)
SELECT l.id, l.external_id, l.submitted_at, l.merchant_name, l.contact_name, l.email, l.phone, l.city,
       l.channel, l.campaign, l.vertical, l.interest_level, l.status, r.name AS owner,
       round(date_diff('minute', l.submitted_at, l.first_response_at) / 60.0, 1) AS response_hours
FROM l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE (len($segments) = 0 OR list_contains($segments, l.segment))
  AND ($pattern = ''
       OR l.merchant_name ILIKE $pattern ESCAPE '\'
       OR l.external_id ILIKE $pattern ESCAPE '\'
       OR l.city ILIKE $pattern ESCAPE '\'
       OR ($search_email AND l.email_bidx = $email_bidx))
ORDER BY l.submitted_at DESC, l.id DESC
LIMIT $limit;

-- name: sub_list_count
WITH l AS (
    SELECT merchant_name, external_id, city, email_bidx,
           coalesce(CASE $dimension WHEN 'channel' THEN channel WHEN 'campaign' THEN campaign ELSE vertical END,
                    '(none)') AS segment
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
)
SELECT count(*) AS matching
FROM l
WHERE (len($segments) = 0 OR list_contains($segments, l.segment))
  AND ($pattern = ''
       OR l.merchant_name ILIKE $pattern ESCAPE '\'
       OR l.external_id ILIKE $pattern ESCAPE '\'
       OR l.city ILIKE $pattern ESCAPE '\'
       OR ($search_email AND l.email_bidx = $email_bidx));

-- name: sub_lead
-- One lead by id or external id, only if it is in the actor's scope (the caller passes an all-time range
-- and no page filters, so the scope alone decides).
SELECT l.id, l.external_id, l.submitted_at, l.merchant_name, l.contact_name, l.email, l.phone, l.city,
       rg.name AS region, l.vertical, l.company_size, l.monthly_volume, l.channel, l.campaign, l.landing_page,
       l.interest_level, l.status, l.status_changed_at, l.first_response_at,
       round(date_diff('minute', l.submitted_at, l.first_response_at) / 60.0, 1) AS response_hours,
       r.name AS owner, t.name AS team, l.do_not_contact
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
LEFT JOIN reps r ON r.id = l.owner_id
LEFT JOIN teams t ON t.id = l.team_id
LEFT JOIN regions rg ON rg.id = l.region_id
WHERE l.id = $lead_id OR lower(l.external_id) = lower($ref)
ORDER BY (l.id = $lead_id) DESC
LIMIT 1;

-- name: sub_lead_stages
-- The scope is checked again here so that no caller can read the history of a lead it may not see.
SELECT s.changed_at, s.from_status, s.to_status, s.actor, s.reason
FROM lead_stage_changes s
WHERE s.lead_id = $lead_id
  AND s.lead_id IN (SELECT id FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps,
                                                $verticals, $channels) WHERE id = $lead_id)
ORDER BY s.changed_at, s.id;

-- name: sub_lead_activities
SELECT a.occurred_at, a.type, a.outcome, a.duration_min, r.name AS rep, a.notes
FROM activities a
LEFT JOIN reps r ON r.id = a.rep_id
WHERE a.lead_id = $lead_id
  AND a.lead_id IN (SELECT id FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps,
                                                $verticals, $channels) WHERE id = $lead_id)
ORDER BY a.occurred_at DESC, a.id DESC
LIMIT $limit;

-- name: sub_lead_opportunities
SELECT o.id, o.stage, o.amount::DOUBLE AS amount, o.created_at, o.expected_close, o.closed_at, o.won,
       o.loss_reason, r.name AS owner
FROM opportunities o
LEFT JOIN reps r ON r.id = o.owner_id
WHERE o.lead_id = $lead_id
  AND o.lead_id IN (SELECT id FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps,
                                                $verticals, $channels) WHERE id = $lead_id)
ORDER BY o.created_at DESC;
