-- Table macros that apply the shared filters and the acting user's row scope.
-- scope_all: the user may see every row; otherwise only rows owned by a rep in scope_reps.
-- Empty lists mean "no filter" for the page filters (teams, regions, reps, verticals, channels).

CREATE OR REPLACE MACRO scoped_leads(scope_all, scope_reps, d0, d1, teams, regions, reps, verticals, channels) AS TABLE
SELECT l.*, r.team_id AS team_id
FROM leads l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE l.submitted_at >= d0 AND l.submitted_at < d1 + INTERVAL 1 DAY
  AND (scope_all OR list_contains(scope_reps, l.owner_id))
  AND (len(teams) = 0 OR list_contains(teams, r.team_id))
  AND (len(regions) = 0 OR list_contains(regions, l.region_id))
  AND (len(reps) = 0 OR list_contains(reps, l.owner_id))
  AND (len(verticals) = 0 OR list_contains(verticals, l.vertical))
  AND (len(channels) = 0 OR list_contains(channels, l.channel));

-- Opportunities in scope (owner), filtered by the owner's team and the lead's segment. No date filter:
-- callers pick created_at or closed_at as the period needs.
CREATE OR REPLACE MACRO scoped_opportunities(scope_all, scope_reps, teams, regions, reps, verticals, channels) AS TABLE
SELECT o.*, r.team_id AS team_id, l.vertical, l.channel, l.region_id, l.interest_level, l.submitted_at
FROM opportunities o
JOIN leads l ON l.id = o.lead_id
LEFT JOIN reps r ON r.id = o.owner_id
WHERE (scope_all OR list_contains(scope_reps, o.owner_id))
  AND (len(teams) = 0 OR list_contains(teams, r.team_id))
  AND (len(regions) = 0 OR list_contains(regions, l.region_id))
  AND (len(reps) = 0 OR list_contains(reps, o.owner_id))
  AND (len(verticals) = 0 OR list_contains(verticals, l.vertical))
  AND (len(channels) = 0 OR list_contains(channels, l.channel));

-- Customers in scope (owner), filtered like opportunities. No date filter.
CREATE OR REPLACE MACRO scoped_customers(scope_all, scope_reps, teams, regions, reps, verticals, channels) AS TABLE
SELECT c.*, r.team_id AS team_id, l.channel
FROM customers c
LEFT JOIN leads l ON l.id = c.lead_id
LEFT JOIN reps r ON r.id = c.owner_id
WHERE (scope_all OR list_contains(scope_reps, c.owner_id))
  AND (len(teams) = 0 OR list_contains(teams, r.team_id))
  AND (len(regions) = 0 OR list_contains(regions, c.region_id))
  AND (len(reps) = 0 OR list_contains(reps, c.owner_id))
  AND (len(verticals) = 0 OR list_contains(verticals, c.vertical))
  AND (len(channels) = 0 OR list_contains(channels, l.channel));

-- Activities in scope (the rep who logged them) in the period, filtered by the rep's team.
-- Segment filters (region, vertical, channel) apply through the lead only when one is set.
CREATE OR REPLACE MACRO scoped_activities(scope_all, scope_reps, d0, d1, teams, regions, reps, verticals, channels) AS TABLE
SELECT a.*, r.team_id AS team_id
FROM activities a
LEFT JOIN reps r ON r.id = a.rep_id
WHERE a.occurred_at >= d0 AND a.occurred_at < d1 + INTERVAL 1 DAY
  AND (scope_all OR list_contains(scope_reps, a.rep_id))
  AND (len(teams) = 0 OR list_contains(teams, r.team_id))
  AND (len(reps) = 0 OR list_contains(reps, a.rep_id))
  AND (len(regions) + len(verticals) + len(channels) = 0 OR a.lead_id IN (
        SELECT id FROM leads
        WHERE (len(regions) = 0 OR list_contains(regions, region_id))
          AND (len(verticals) = 0 OR list_contains(verticals, vertical))
          AND (len(channels) = 0 OR list_contains(channels, channel))));

-- Audit records matching the Admin view's filters (flashdash.audit.search); every filter is optional (NULL or '').
CREATE OR REPLACE MACRO audit_matching(d0, d1, who, act, ent, ent_id, txt) AS TABLE
SELECT * FROM audit_log
WHERE (d0::DATE IS NULL OR logged_at >= d0::DATE)
  AND (d1::DATE IS NULL OR logged_at < d1::DATE + INTERVAL 1 DAY)
  AND (who = '' OR actor = who)
  AND (act = '' OR action = act)
  AND (ent = '' OR entity = ent)
  AND (ent_id = '' OR entity_id = ent_id)
  AND (txt = '' OR contains(lower(coalesce(reason, '')), lower(txt)));
