-- Performance analytics: rep productivity over a period, and closed deals with the activities before the close.

-- name: perf_productivity
-- Per rep in scope and the filters who logged an activity or owns a lead submitted in the period: their working
-- days in it (their own weekdays, from their start date; for a rep who has left, up to their last activity),
-- calls, emails (logged, which includes those sent from the app, plus sequence emails sent for them), meetings
-- booked (meetings logged, held or not), demos, and the first responses to their leads of the period: how many
-- and the median hours from submission.
WITH acts AS (
    SELECT rep_id,
           count(*) FILTER (WHERE type = 'call') AS calls,
           count(*) FILTER (WHERE type = 'email') AS emails_logged,
           count(*) FILTER (WHERE type = 'meeting') AS meetings,
           count(*) FILTER (WHERE type = 'demo') AS demos,
           max(occurred_at) AS last_activity
    FROM scoped_activities($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE rep_id IS NOT NULL
    GROUP BY 1
),
sequence_mail AS (
    SELECT e.rep_id, count(*) AS sequence_emails
    FROM emails e
    WHERE e.status = 'sent' AND e.enrollment_id IS NOT NULL AND e.rep_id IS NOT NULL
      AND e.sent_at >= $d0 AND e.sent_at < $d1 + INTERVAL 1 DAY
    GROUP BY 1
),
responses AS (
    SELECT owner_id AS rep_id,
           count(*) FILTER (WHERE first_response_at >= submitted_at) AS leads_responded,
           median(date_diff('minute', submitted_at, first_response_at))
               FILTER (WHERE first_response_at >= submitted_at) / 60.0 AS median_response_hours
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels)
    WHERE owner_id IS NOT NULL
    GROUP BY 1
),
people AS (
    SELECT r.id, r.name, r.title, r.team_id, t.name AS team, r.active, r.start_date,
           coalesce(r.working_days, 'mon,tue,wed,thu,fri') AS days, a.last_activity
    FROM reps r
    LEFT JOIN teams t ON t.id = r.team_id
    LEFT JOIN acts a ON a.rep_id = r.id
    WHERE ($scope_all OR list_contains($scope_reps, r.id))
      AND (len($teams) = 0 OR list_contains($teams, r.team_id))
      AND (len($reps) = 0 OR list_contains($reps, r.id))
      AND (r.id IN (SELECT rep_id FROM acts) OR r.id IN (SELECT rep_id FROM responses))
),
days AS (
    SELECT p.id, count(*) AS working_days
    FROM people p, generate_series($d0::TIMESTAMP, $d1::TIMESTAMP, INTERVAL 1 DAY) g(d)
    WHERE list_contains(string_split(p.days, ','), lower(strftime(g.d, '%a')))
      AND (p.start_date IS NULL OR g.d >= p.start_date)
      AND (p.active OR p.last_activity IS NULL OR g.d <= p.last_activity)
    GROUP BY 1
)
SELECT p.id AS rep_id, p.name AS rep, p.title, p.active, p.team_id, p.team,
       coalesce(d.working_days, 0) AS working_days,
       coalesce(a.calls, 0) AS calls,
       coalesce(a.emails_logged, 0) + coalesce(s.sequence_emails, 0) AS emails_sent,
       coalesce(a.meetings, 0) AS meetings_booked,
       coalesce(a.demos, 0) AS demos,
       coalesce(r.leads_responded, 0) AS leads_responded,
       r.median_response_hours
FROM people p
LEFT JOIN days d ON d.id = p.id
LEFT JOIN acts a ON a.rep_id = p.id
LEFT JOIN sequence_mail s ON s.rep_id = p.id
LEFT JOIN responses r ON r.rep_id = p.id
ORDER BY p.team, p.name, p.id;

-- name: perf_team_response
-- The median first response per team over the period's leads in scope (a team's median is not a median of its
-- reps' medians).
SELECT l.team_id, count(*) AS leads_responded,
       median(date_diff('minute', l.submitted_at, l.first_response_at)) / 60.0 AS median_response_hours
FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
WHERE l.first_response_at >= l.submitted_at AND l.team_id IS NOT NULL
GROUP BY 1;

-- name: perf_closed_deals
-- Deals in scope that closed by $now, with what was known of the lead when it arrived (interest, channel,
-- vertical, company size, monthly volume), whether its first response came within an hour, and the calls,
-- emails, meetings and demos logged on it in the 30 days up to the close.
WITH d AS (
    SELECT o.id AS opportunity_id, o.lead_id, o.won, o.closed_at, l.interest_level, l.channel, l.vertical,
           l.company_size, l.monthly_volume,
           coalesce(l.first_response_at >= l.submitted_at
                    AND l.first_response_at <= l.submitted_at + INTERVAL 1 HOUR, false) AS response_1h
    FROM opportunities o JOIN leads l ON l.id = o.lead_id
    WHERE o.closed_at <= $now AND o.won IS NOT NULL
      AND ($scope_all OR list_contains($scope_reps, o.owner_id))
),
a AS (
    SELECT d.opportunity_id,
           count(*) FILTER (WHERE a.type = 'call') AS calls_30d,
           count(*) FILTER (WHERE a.type = 'email') AS emails_30d,
           count(*) FILTER (WHERE a.type = 'meeting') AS meetings_30d,
           count(*) FILTER (WHERE a.type = 'demo') AS demos_30d
    FROM d JOIN activities a ON a.lead_id = d.lead_id
     AND a.occurred_at > d.closed_at - INTERVAL 30 DAY AND a.occurred_at <= d.closed_at
    GROUP BY 1
)
SELECT d.*, coalesce(a.calls_30d, 0) AS calls_30d, coalesce(a.emails_30d, 0) AS emails_30d,
       coalesce(a.meetings_30d, 0) AS meetings_30d, coalesce(a.demos_30d, 0) AS demos_30d
FROM d LEFT JOIN a USING (opportunity_id)
ORDER BY d.closed_at, d.opportunity_id;
