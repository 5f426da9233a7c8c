-- Lead assignment: routing policies, the org snapshot the router reads, its writes, the map and fairness.

-- name: assignment_policies_all
-- Every stored policy; the newest row of a team wins when a team has several.
SELECT p.id, p.team_id, t.name AS team, p.strategies, p.settings, p.updated_by, p.updated_at
FROM assignment_policies p LEFT JOIN teams t ON t.id = p.team_id
ORDER BY p.id;

-- name: assignment_policy_delete
DELETE FROM assignment_policies WHERE team_id IS NOT DISTINCT FROM $team_id;

-- name: assignment_policy_insert
INSERT INTO assignment_policies (id, team_id, strategies, settings, updated_by, updated_at)
VALUES (nextval('assignment_policies_id_seq'), $team_id, $strategies, $settings, $updated_by, $updated_at)
RETURNING id;

-- name: assignment_teams
SELECT t.id AS team_id, t.name AS team, t.region_id, g.name AS region, t.manager_id
FROM teams t LEFT JOIN regions g ON g.id = t.region_id
ORDER BY t.id;

-- name: assignment_managed_teams
-- The teams a manager leads (the same rule as their row scope: teams.manager_id).
SELECT t.id AS team_id, t.name AS team, t.region_id FROM teams t WHERE t.manager_id = $rep_id ORDER BY t.id;

-- name: assignment_rep_team
SELECT t.id AS team_id, t.name AS team, t.region_id FROM reps r JOIN teams t ON t.id = r.team_id WHERE r.id = $rep_id;

-- name: assignment_regions
SELECT id AS region_id, name AS region FROM regions ORDER BY id;

-- name: assignment_territories
SELECT t.id AS territory_id, t.name AS territory, t.region_id, g.name AS region
FROM territories t LEFT JOIN regions g ON g.id = t.region_id
ORDER BY t.id;

-- name: assignment_cities
-- Cities by name (leads.city holds the name) with the territory and region they belong to.
SELECT c.name AS city, c.lat, c.lon, c.region_id, c.territory_id, t.name AS territory
FROM cities c LEFT JOIN territories t ON t.id = c.territory_id
ORDER BY c.id;

-- name: assignment_rep_territories
SELECT rep_id, territory_id FROM rep_territories ORDER BY rep_id, territory_id;

-- name: assignment_reps
-- Every rep with what routing reads: skills, cap, working days, and their open leads now.
WITH open_leads AS (
    SELECT owner_id AS rep_id, count(*) AS open_leads
    FROM leads
    WHERE owner_id IS NOT NULL AND status IN ('new', 'mql', 'sql', 'opportunity')
    GROUP BY owner_id
)
SELECT r.id AS rep_id, r.name, r.title, r.team_id, r.active, r.verticals, r.languages, r.max_open_leads,
       r.working_days, coalesce(o.open_leads, 0) AS open_leads
FROM reps r LEFT JOIN open_leads o ON o.rep_id = r.id
ORDER BY r.id;

-- name: assignment_recent_counts
-- Leads each rep was given in a window: what the weighted round-robin balances.
SELECT owner_id AS rep_id, count(*) AS recent
FROM leads
WHERE owner_id IS NOT NULL AND assigned_at >= $since AND assigned_at < $until
GROUP BY owner_id;

-- name: assignment_performance
-- Each rep's recent results: leads decided (won, lost, disqualified) in the window, those won, and the
-- revenue of deals won in the window. The weights are drawn from these.
WITH decided AS (
    SELECT owner_id AS rep_id, count(*) AS decided, count(*) FILTER (WHERE status = 'won') AS won
    FROM leads
    WHERE owner_id IS NOT NULL AND status IN ('won', 'lost', 'disqualified')
      AND status_changed_at >= $since AND status_changed_at < $until
    GROUP BY owner_id
), revenue AS (
    SELECT owner_id AS rep_id, sum(amount)::DOUBLE AS won_revenue
    FROM opportunities
    WHERE owner_id IS NOT NULL AND won AND closed_at >= $since AND closed_at < $until
    GROUP BY owner_id
)
SELECT r.id AS rep_id, r.team_id, coalesce(d.decided, 0) AS decided, coalesce(d.won, 0) AS won,
       coalesce(v.won_revenue, 0.0) AS won_revenue
FROM reps r LEFT JOIN decided d ON d.rep_id = r.id LEFT JOIN revenue v ON v.rep_id = r.id
ORDER BY r.id;

-- name: assignment_unowned_leads
-- Open leads without an owner, oldest first: what a routing run picks up.
SELECT id AS lead_id, vertical, language, city, region_id, owner_id, status
FROM leads
WHERE owner_id IS NULL AND status IN ('new', 'mql', 'sql', 'opportunity')
ORDER BY submitted_at, id;

-- name: assignment_leads_by_id
SELECT id AS lead_id, vertical, language, city, region_id, owner_id, status
FROM leads
WHERE id IN (SELECT unnest($lead_ids))
ORDER BY submitted_at, id;

-- name: assignment_last_records
-- The latest assignment record of each lead: a routing run does not repeat an unchanged "left unassigned".
SELECT lead_id, rep_id, reason
FROM lead_assignments
WHERE lead_id IN (SELECT unnest($lead_ids))
QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY id DESC) = 1;

-- name: assignment_set_owners
UPDATE leads SET owner_id = a.rep_id, assigned_at = $now
FROM (SELECT unnest($lead_ids) AS lead_id, unnest($rep_ids) AS rep_id) a
WHERE leads.id = a.lead_id;

-- name: assignment_insert_records
INSERT INTO lead_assignments (id, lead_id, rep_id, previous_rep_id, assigned_at, strategy, reason, actor)
SELECT nextval('lead_assignments_id_seq'), lead_id, rep_id, previous_rep_id, $now, strategy, reason, $actor
FROM (SELECT unnest($lead_ids) AS lead_id, unnest($rep_ids)::INTEGER AS rep_id,
             unnest($previous_rep_ids)::INTEGER AS previous_rep_id, unnest($strategies) AS strategy,
             unnest($reasons) AS reason);

-- name: assignment_manual_leads
-- The leads a manual assignment names, with their owner's team (null when unowned).
SELECT l.id AS lead_id, l.owner_id, l.status, l.region_id, r.team_id AS owner_team_id, r.name AS owner
FROM leads l LEFT JOIN reps r ON r.id = l.owner_id
WHERE l.id IN (SELECT unnest($lead_ids))
ORDER BY l.id;

-- name: assignment_rep
SELECT r.id AS rep_id, r.name, r.title, r.active, r.team_id, t.name AS team, t.region_id AS team_region_id,
       r.verticals, r.languages, r.max_open_leads, r.working_days,
       (SELECT count(*) FROM leads l
        WHERE l.owner_id = r.id AND l.status IN ('new', 'mql', 'sql', 'opportunity')) AS open_leads
FROM reps r LEFT JOIN teams t ON t.id = r.team_id
WHERE r.id = $rep_id;

-- name: assignment_rep_territory_ids
SELECT territory_id FROM rep_territories WHERE rep_id = $rep_id ORDER BY territory_id;

-- name: assignment_territories_by_id
SELECT id AS territory_id, name AS territory, region_id FROM territories
WHERE id IN (SELECT unnest($territory_ids)) ORDER BY id;

-- name: assignment_rep_routing_update
UPDATE reps SET verticals = $verticals, languages = $languages, max_open_leads = $max_open_leads,
                working_days = $working_days
WHERE id = $rep_id;

-- name: assignment_rep_territories_delete
DELETE FROM rep_territories WHERE rep_id = $rep_id;

-- name: assignment_rep_territories_insert
INSERT INTO rep_territories (rep_id, territory_id)
SELECT $rep_id, unnest($territory_ids::INTEGER[]);

-- name: assignment_map
-- Each city in the regions asked for: its territory, the open leads there that the actor may see (their
-- book and the unowned ones) and the active sellers in scope who cover its territory.
WITH open_leads AS (
    SELECT city, count(*) AS open_leads
    FROM leads
    WHERE status IN ('new', 'mql', 'sql', 'opportunity')
      AND ($scope_all OR owner_id IS NULL OR list_contains($scope_reps, owner_id))
    GROUP BY city
), covering AS (
    SELECT rt.territory_id, count(DISTINCT r.id) AS reps_covering,
           string_agg(r.name, ', ' ORDER BY r.name) AS covering_reps
    FROM rep_territories rt JOIN reps r ON r.id = rt.rep_id
    WHERE r.active AND r.title <> 'manager' AND ($scope_all OR list_contains($scope_reps, r.id))
    GROUP BY rt.territory_id
)
SELECT c.name AS city, c.lat, c.lon, t.name AS territory, g.name AS region,
       coalesce(o.open_leads, 0) AS open_leads, coalesce(v.reps_covering, 0) AS reps_covering,
       v.covering_reps, c.territory_id, c.region_id
FROM cities c
LEFT JOIN territories t ON t.id = c.territory_id
LEFT JOIN regions g ON g.id = c.region_id
LEFT JOIN open_leads o ON o.city = c.name
LEFT JOIN covering v ON v.territory_id = c.territory_id
WHERE $all_regions OR list_contains($region_ids, c.region_id)
ORDER BY g.name, t.name, c.name;

-- name: assignment_fairness_assigned
-- Leads each rep was given in the period: the assignment records, and for history without records the
-- lead's owner and assignment time. Lead quality is the leads' current score.
WITH recorded AS (
    SELECT DISTINCT lead_id, rep_id
    FROM lead_assignments
    WHERE rep_id IS NOT NULL AND assigned_at >= $d0 AND assigned_at < $d1
), history AS (
    SELECT l.id AS lead_id, l.owner_id AS rep_id
    FROM leads l
    WHERE l.owner_id IS NOT NULL AND l.assigned_at >= $d0 AND l.assigned_at < $d1
      AND NOT EXISTS (SELECT 1 FROM lead_assignments a WHERE a.lead_id = l.id)
), given AS (
    SELECT lead_id, rep_id FROM recorded UNION SELECT lead_id, rep_id FROM history
)
SELECT g.rep_id, count(*) AS assigned, avg(s.score) AS mean_score, count(s.score) AS scored,
       count(s.band) AS banded, count(*) FILTER (WHERE s.band = 'high') AS high_band
FROM given g LEFT JOIN lead_scores s ON s.lead_id = g.lead_id
GROUP BY g.rep_id
ORDER BY g.rep_id;

-- name: assignment_audit_many
-- One audit record per lead a routing run gave an owner, in the layout of flashdash.audit.record, in one
-- statement: a run can route thousands of leads (an import), and a statement per record costs ~0.5 ms.
INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, before, after, reason)
SELECT nextval('audit_log_id_seq'), $now, $actor, 'assign', 'lead', entity_id, before, after, reason
FROM (SELECT unnest($entity_ids) AS entity_id, unnest($befores) AS before, unnest($afters) AS after,
             unnest($reasons) AS reason);

-- name: assignment_routing_table
-- Each seller in the actor's scope with their routing data and the territories they may cover (their region's).
SELECT r.id AS rep_id, r.name AS rep, t.name AS team, r.active, r.verticals, r.languages, r.max_open_leads,
       coalesce(r.working_days, 'mon,tue,wed,thu,fri') AS working_days,
       list(rt.territory_id ORDER BY rt.territory_id) FILTER (WHERE rt.territory_id IS NOT NULL) AS territory_ids,
       t.region_id
FROM reps r
LEFT JOIN teams t ON t.id = r.team_id
LEFT JOIN rep_territories rt ON rt.rep_id = r.id
WHERE r.title <> 'manager' AND ($scope_all OR list_contains($scope_reps, r.id))
GROUP BY ALL
ORDER BY t.name, r.name;
