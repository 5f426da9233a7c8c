-- Follow-up work on leads.

-- name: task_leads_in_scope
-- The given leads the acting user may see, with their owners.
SELECT id, owner_id FROM leads
WHERE list_contains($lead_ids, id) AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: task_insert
INSERT INTO tasks (id, lead_id, rep_id, title, due_at, status, created_by, created_at, notes, kind, rule_id,
                   enrollment_id, step_id)
VALUES (nextval('tasks_id_seq'), $lead_id, $rep_id, $title, $due_at, 'open', $created_by, $created_at, $notes,
        $kind, $rule_id, $enrollment_id, $step_id)
RETURNING id;

-- name: tasks_open
-- Open tasks in the actor's scope, soonest due first.
SELECT t.id, t.lead_id, l.merchant_name, t.rep_id, r.name AS rep, t.title, t.due_at, t.created_by, t.created_at
FROM tasks t
LEFT JOIN leads l ON l.id = t.lead_id
LEFT JOIN reps r ON r.id = t.rep_id
WHERE t.status = 'open' AND ($scope_all OR list_contains($scope_reps, t.rep_id))
ORDER BY t.due_at NULLS LAST, t.id
LIMIT $limit;
