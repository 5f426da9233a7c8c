-- One lead's communication timeline: everything that happened to it, each kind of event by its own query.

-- name: timeline_lead
-- The lead, if the acting user may see it (their scope), with what its submission said.
SELECT l.id, l.merchant_name, l.contact_name, l.email, l.phone, l.submitted_at, l.channel, l.campaign,
       l.landing_page, l.interest_level, l.status, l.owner_id, r.name AS owner
FROM leads l
LEFT JOIN reps r ON r.id = l.owner_id
WHERE l.id = $lead_id AND ($scope_all OR list_contains($scope_reps, l.owner_id));

-- name: timeline_stage_changes
SELECT id, changed_at, from_status, to_status, actor, reason
FROM lead_stage_changes WHERE lead_id = $lead_id
ORDER BY changed_at, id;

-- name: timeline_activities
SELECT a.id, a.occurred_at, a.type, a.duration_min, a.outcome, a.notes, a.next_step, a.source,
       r.name AS rep, t.name AS template
FROM activities a
LEFT JOIN reps r ON r.id = a.rep_id
LEFT JOIN activity_templates t ON t.id = a.template_id
WHERE a.lead_id = $lead_id
ORDER BY a.occurred_at, a.id;

-- name: timeline_emails
SELECT e.id, e.queued_at, e.sent_at, e.status, e.subject, e.to_address, e.last_error, e.attempts, e.queued_by,
       r.name AS rep, s.name AS sequence
FROM emails e
LEFT JOIN reps r ON r.id = e.rep_id
LEFT JOIN sequence_enrollments en ON en.id = e.enrollment_id
LEFT JOIN sequences s ON s.id = en.sequence_id
WHERE e.lead_id = $lead_id
ORDER BY e.id;

-- name: timeline_email_events
SELECT v.id, v.email_id, v.kind, v.occurred_at, v.url, e.subject
FROM email_events v
JOIN emails e ON e.id = v.email_id
WHERE e.lead_id = $lead_id
ORDER BY v.occurred_at, v.id;

-- name: timeline_tasks
SELECT t.id, t.title, t.kind, t.status, t.created_at, t.created_by, t.due_at, t.done_at, t.notes,
       r.name AS rep, f.name AS delegated_from, q.name AS sequence, t.rule_id
FROM tasks t
LEFT JOIN reps r ON r.id = t.rep_id
LEFT JOIN reps f ON f.id = t.delegated_from
LEFT JOIN sequence_enrollments en ON en.id = t.enrollment_id
LEFT JOIN sequences q ON q.id = en.sequence_id
WHERE t.lead_id = $lead_id
ORDER BY t.id;

-- name: timeline_task_handovers
-- When the lead's tasks were handed to someone else: the audit records of their delegation (the tasks table keeps
-- only who a task came from, not when).
SELECT CAST(a.entity_id AS INTEGER) AS task_id, a.logged_at, a.actor, a.reason
FROM audit_log a
WHERE a.entity = 'task' AND a.action <> 'create'
  AND (a.action ILIKE '%delegat%' OR a.reason ILIKE '%delegat%')
  AND a.entity_id IN (SELECT CAST(id AS VARCHAR) FROM tasks WHERE lead_id = $lead_id AND delegated_from IS NOT NULL)
ORDER BY a.logged_at, a.id;
