-- The reads behind a rep's working tabs: whom to hand work to, which lead a reference names, the open leads
-- to log against, and what a departing rep holds.

-- name: worklist_teammates
-- Active reps who may take the actor's work: their scope's, and everyone on the actor's own team.
SELECT r.id, r.name, r.team_id, t.name AS team
FROM reps r LEFT JOIN teams t ON t.id = r.team_id
WHERE r.active
  AND ($scope_all OR list_contains($scope_reps, r.id)
       OR r.team_id = (SELECT m.team_id FROM reps m WHERE m.id = $rep_id::INTEGER))
ORDER BY r.name, r.id;

-- name: worklist_lead
-- One lead by id or external id, only if it is in the actor's scope (by its owner, as logging checks it).
SELECT l.id, l.external_id, l.merchant_name, l.status, l.owner_id, r.name AS owner
FROM leads l LEFT JOIN reps r ON r.id = l.owner_id
WHERE (l.id = $lead_id OR lower(l.external_id) = lower($ref))
  AND ($scope_all OR list_contains($scope_reps, l.owner_id))
ORDER BY (l.id = $lead_id) DESC
LIMIT 1;

-- name: worklist_open_leads
-- The actor's open leads (not won, lost or disqualified), by merchant name.
SELECT l.id, l.merchant_name, l.status
FROM leads l
WHERE l.status IN ('new', 'mql', 'sql', 'opportunity')
  AND ($scope_all OR list_contains($scope_reps, l.owner_id))
ORDER BY l.merchant_name, l.id
LIMIT $limit;

-- name: worklist_rep_holdings
-- What a rep holds that a departure moves: open tasks and open leads.
SELECT (SELECT count(*) FROM tasks t WHERE t.rep_id = $rep_id AND t.status = 'open') AS tasks,
       (SELECT count(*) FROM leads l WHERE l.owner_id = $rep_id
          AND l.status IN ('new', 'mql', 'sql', 'opportunity')) AS leads;
