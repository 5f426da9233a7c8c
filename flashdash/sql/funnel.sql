-- The sales funnel of the leads submitted in a period: how far each got (New -> MQL -> SQL -> Opportunity
-- -> Won) from lead_stage_changes, where it stands now, and how long it spent in each stage.
-- A lead "reached" a stage if it ever changed into it or into a later stage; stages are numbered
-- 1 new, 2 mql, 3 sql, 4 opportunity, 5 won. $dimension picks the segment: channel, vertical,
-- interest_level or team.

-- name: funnel_counts
-- Leads by segment, furthest stage reached and outcome now (won, lost, disqualified or still open).
WITH l AS (
    SELECT l.id, l.status,
           coalesce(CASE $dimension WHEN 'channel' THEN l.channel
                                    WHEN 'vertical' THEN l.vertical
                                    WHEN 'interest_level' THEN l.interest_level
                                    WHEN 'team' THEN t.name END, '(none)') AS segment
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
    LEFT JOIN teams t ON t.id = l.team_id
),
reached AS (
    SELECT c.lead_id, max(list_position(['new', 'mql', 'sql', 'opportunity', 'won'], c.to_status)) AS stage
    FROM lead_stage_changes c
    -- a lead's changes come at or after its submission: the bound lets DuckDB skip older row groups
    WHERE c.changed_at >= $d0 AND c.lead_id IN (SELECT id FROM l)
    GROUP BY 1
),
staged AS (
    -- the current status counts too, should a change be missing from the log; every lead was at least new
    SELECT l.segment, l.status,
           coalesce(greatest(r.stage, list_position(['new', 'mql', 'sql', 'opportunity', 'won'], l.status)), 1)
               AS stage
    FROM l LEFT JOIN reached r ON r.lead_id = l.id
)
SELECT segment, stage::INTEGER AS stage,
       CASE WHEN status IN ('lost', 'disqualified') THEN status WHEN stage = 5 THEN 'won' ELSE 'open' END AS outcome,
       count(*) AS leads
FROM staged
GROUP BY ALL
ORDER BY 1, 2, 3;

-- name: funnel_stage_times
-- Median days a lead spent in each stage before its next change, over the stays that have ended
-- (a stay still under way has no end yet). Limited to the $focus segments when any are given.
WITH l AS (
    SELECT l.id
    FROM scoped_leads($scope_all, $scope_reps, $d0, $d1, $teams, $regions, $reps, $verticals, $channels) l
    LEFT JOIN teams t ON t.id = l.team_id
    WHERE len($focus) = 0
       OR list_contains($focus, coalesce(CASE $dimension WHEN 'channel' THEN l.channel
                                                         WHEN 'vertical' THEN l.vertical
                                                         WHEN 'interest_level' THEN l.interest_level
                                                         WHEN 'team' THEN t.name END, '(none)'))
),
stays AS (
    SELECT c.to_status AS stage, c.changed_at,
           lead(c.changed_at) OVER (PARTITION BY c.lead_id ORDER BY c.changed_at, c.id) AS left_at
    FROM lead_stage_changes c
    WHERE c.changed_at >= $d0 AND c.lead_id IN (SELECT id FROM l)
)
SELECT stage,
       median(date_diff('minute', changed_at, left_at)) / 1440.0 AS median_days,
       count(*) AS stays
FROM stays
WHERE left_at IS NOT NULL AND stage IN ('new', 'mql', 'sql', 'opportunity')
GROUP BY 1;
