-- Activity effectiveness: per lead, what was known at submission, what the reps did in its first week, and
-- what followed.

-- name: effectiveness_leads
-- Leads in scope submitted on or before $cutoff (old enough for the shortest outcome window), with:
--   quality known at submission: interest level, channel, vertical, company size, monthly volume;
--   the first week (7 days from submission): whether a call, email, meeting or demo was logged, whether the lead
--   was enrolled in a sequence, and how fast the first response came;
--   outcomes: a move forward in the funnel (new < mql < sql < opportunity < won) within 30 days of submission,
--   and a win within 90 days.
WITH base AS (
    SELECT l.id, l.submitted_at, l.first_response_at, l.interest_level, l.channel, l.vertical, l.company_size,
           l.monthly_volume
    FROM leads l
    WHERE l.submitted_at <= $cutoff AND ($scope_all OR list_contains($scope_reps, l.owner_id))
),
first_week AS (
    SELECT a.lead_id,
           bool_or(a.type = 'call') AS call_7d, bool_or(a.type = 'email') AS email_7d,
           bool_or(a.type = 'meeting') AS meeting_7d, bool_or(a.type = 'demo') AS demo_7d
    FROM activities a
    JOIN base b ON b.id = a.lead_id
    WHERE a.occurred_at >= b.submitted_at AND a.occurred_at < b.submitted_at + INTERVAL 7 DAY
    GROUP BY a.lead_id
),
enrolled AS (
    SELECT DISTINCT e.lead_id
    FROM sequence_enrollments e
    JOIN base b ON b.id = e.lead_id
    WHERE e.enrolled_at >= b.submitted_at AND e.enrolled_at < b.submitted_at + INTERVAL 7 DAY
),
moves AS (
    SELECT c.lead_id,
           bool_or(c.changed_at <= b.submitted_at + INTERVAL 30 DAY
                   AND CASE c.to_status WHEN 'mql' THEN 1 WHEN 'sql' THEN 2 WHEN 'opportunity' THEN 3
                                        WHEN 'won' THEN 4 ELSE -1 END
                     > CASE c.from_status WHEN 'new' THEN 0 WHEN 'mql' THEN 1 WHEN 'sql' THEN 2
                                          WHEN 'opportunity' THEN 3 ELSE 99 END) AS progressed_30d,
           bool_or(c.to_status = 'won' AND c.changed_at <= b.submitted_at + INTERVAL 90 DAY) AS won_90d
    FROM lead_stage_changes c
    JOIN base b ON b.id = c.lead_id
    WHERE c.changed_at >= b.submitted_at
    GROUP BY c.lead_id
)
SELECT b.id, b.submitted_at, b.interest_level, b.channel, b.vertical, b.company_size, b.monthly_volume,
       coalesce(w.call_7d, false) AS call_7d, coalesce(w.email_7d, false) AS email_7d,
       coalesce(w.meeting_7d, false) AS meeting_7d, coalesce(w.demo_7d, false) AS demo_7d,
       e.lead_id IS NOT NULL AS sequence_7d,
       coalesce(b.first_response_at <= b.submitted_at + INTERVAL 1 HOUR, false) AS response_1h,
       coalesce(b.first_response_at <= b.submitted_at + INTERVAL 24 HOUR, false) AS response_24h,
       coalesce(m.progressed_30d, false) AS progressed_30d, coalesce(m.won_90d, false) AS won_90d
FROM base b
LEFT JOIN first_week w ON w.lead_id = b.id
LEFT JOIN enrolled e ON e.lead_id = b.id
LEFT JOIN moves m ON m.lead_id = b.id
ORDER BY b.id;
