-- Privacy requests (flashdash/privacy.py): finding a person's records, exporting, erasing, retention.

-- name: privacy_leads_by_email
-- $email_bidx: the blind index of the address (contact fields are stored sealed).
SELECT id FROM leads WHERE email_bidx = $email_bidx ORDER BY id;

-- name: privacy_leads_existing
SELECT id FROM leads WHERE list_contains($lead_ids, id) ORDER BY id;

-- name: privacy_leads
SELECT * FROM leads WHERE list_contains($lead_ids, id) ORDER BY id;

-- name: privacy_lead_stage_changes
SELECT * FROM lead_stage_changes WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, changed_at, id;

-- name: privacy_activities
SELECT * FROM activities WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, occurred_at, id;

-- name: privacy_opportunities
SELECT * FROM opportunities WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, id;

-- name: privacy_opportunity_changes
SELECT c.* FROM opportunity_changes c JOIN opportunities o ON o.id = c.opportunity_id
WHERE list_contains($lead_ids, o.lead_id) ORDER BY o.lead_id, c.changed_at, c.id;

-- name: privacy_deal_risks
SELECT r.* FROM deal_risks r JOIN opportunities o ON o.id = r.opportunity_id
WHERE list_contains($lead_ids, o.lead_id) ORDER BY o.lead_id, r.opportunity_id;

-- name: privacy_customers
SELECT * FROM customers WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, id;

-- name: privacy_lead_assignments
SELECT * FROM lead_assignments WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, id;

-- name: privacy_tasks
SELECT * FROM tasks WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, created_at, id;

-- name: privacy_sequence_enrollments
SELECT * FROM sequence_enrollments WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, id;

-- name: privacy_emails
SELECT * FROM emails WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id, queued_at, id;

-- name: privacy_email_events
SELECT v.* FROM email_events v JOIN emails e ON e.id = v.email_id
WHERE list_contains($lead_ids, e.lead_id) ORDER BY v.email_id, v.occurred_at, v.id;

-- name: privacy_lead_scores
SELECT * FROM lead_scores WHERE list_contains($lead_ids, lead_id) ORDER BY lead_id;

-- name: privacy_audit_log
-- The trail's records about these leads and their activities, tasks and emails, and any record whose
-- before or after holds one of the person's contact values ($needles: lower-case, never empty), sealed or not.
WITH ids AS (
    SELECT 'lead' AS entity, id::VARCHAR AS entity_id FROM leads WHERE list_contains($lead_ids, id)
    UNION ALL SELECT 'activity', id::VARCHAR FROM activities WHERE list_contains($lead_ids, lead_id)
    UNION ALL SELECT 'task', id::VARCHAR FROM tasks WHERE list_contains($lead_ids, lead_id)
    UNION ALL SELECT 'email', id::VARCHAR FROM emails WHERE list_contains($lead_ids, lead_id)
),
t AS (
    SELECT *, coalesce(before, '') || ' ' || coalesce(after, '') AS raw FROM audit_log
),
a AS (
    SELECT *, lower(CASE WHEN contains(raw, 'enc1:') THEN fd_open(raw) ELSE raw END) AS text FROM t
)
SELECT a.id, a.logged_at, a.actor, a.action, a.entity, a.entity_id, a.before, a.after, a.reason, a.redacted_at
FROM a
WHERE EXISTS (SELECT 1 FROM ids i WHERE i.entity = a.entity AND i.entity_id = a.entity_id)
   OR len(list_filter($needles, lambda n: contains(a.text, n))) > 0
ORDER BY a.id;

-- name: privacy_import_changes
SELECT id, before FROM import_changes
WHERE table_name = 'leads' AND list_contains($lead_ids, TRY_CAST(json_extract(row_key, '$.id') AS BIGINT))
  AND before IS NOT NULL;

-- name: privacy_quarantine
-- Rows set aside by imports that quote one of the person's contact values ($needles), sealed or not.
WITH q AS (SELECT id, import_id, row_number, reason, cells, lower(fd_open(cells)) AS text FROM import_quarantine)
SELECT id, import_id, row_number, reason, cells FROM q
WHERE len(list_filter($needles, lambda n: contains(text, n))) > 0 ORDER BY id;

-- name: privacy_erase_leads
UPDATE leads SET contact_name = NULL, email = NULL, phone = NULL, email_bidx = NULL, phone_bidx = NULL,
                 email_domain = NULL, do_not_contact = TRUE
WHERE list_contains($lead_ids, id);

-- name: privacy_erase_activities
UPDATE activities SET notes = NULL, next_step = NULL WHERE list_contains($lead_ids, lead_id);

-- name: privacy_erase_tasks
UPDATE tasks SET notes = NULL WHERE list_contains($lead_ids, lead_id);

-- name: privacy_erase_emails
UPDATE emails SET to_address = NULL, subject = '[erased]', body = NULL WHERE list_contains($lead_ids, lead_id);

-- name: privacy_set_import_change
UPDATE import_changes SET before = $before WHERE id = $change_id;

-- name: privacy_set_quarantine_cells
UPDATE import_quarantine SET cells = $cells WHERE id = $quarantine_id;

-- name: privacy_lead_for_flag
SELECT id, do_not_contact, owner_id FROM leads WHERE id = $lead_id AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: privacy_set_do_not_contact
UPDATE leads SET do_not_contact = $flag WHERE id = $lead_id;

-- name: privacy_retention_candidates
-- Closed leads that never became customers, untouched since $cutoff: no submission, stage change, activity,
-- task or email after it; `$anonymize`: only those still holding a contact detail.
WITH touched AS (
    SELECT lead_id, max(touched_at) AS last_at FROM (
        SELECT lead_id, occurred_at AS touched_at FROM activities
        UNION ALL SELECT lead_id, coalesce(done_at, created_at) FROM tasks
        UNION ALL SELECT lead_id, queued_at FROM emails
        UNION ALL SELECT lead_id, changed_at FROM lead_stage_changes
    ) GROUP BY lead_id
)
SELECT l.id
FROM leads l LEFT JOIN touched t ON t.lead_id = l.id
WHERE l.status IN ('lost', 'disqualified')
  AND greatest(l.submitted_at, coalesce(l.status_changed_at, l.submitted_at), coalesce(t.last_at, l.submitted_at)) < $cutoff
  AND (NOT $anonymize OR l.contact_name IS NOT NULL OR l.email IS NOT NULL OR l.phone IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.lead_id = l.id)
ORDER BY l.id
LIMIT $limit;

-- name: privacy_purge_email_events
DELETE FROM email_events WHERE email_id IN (SELECT id FROM emails WHERE list_contains($lead_ids, lead_id));

-- name: privacy_purge_step_runs
DELETE FROM sequence_step_runs
WHERE enrollment_id IN (SELECT id FROM sequence_enrollments WHERE list_contains($lead_ids, lead_id));

-- name: privacy_purge_opportunity_changes
-- A deal's changes and its risk go with the deal.
DELETE FROM opportunity_changes
WHERE opportunity_id IN (SELECT id FROM opportunities WHERE list_contains($lead_ids, lead_id));

-- name: privacy_purge_deal_risks
DELETE FROM deal_risks WHERE opportunity_id IN (SELECT id FROM opportunities WHERE list_contains($lead_ids, lead_id));

-- name: privacy_purge_emails
DELETE FROM emails WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_sequence_enrollments
DELETE FROM sequence_enrollments WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_tasks
DELETE FROM tasks WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_activities
DELETE FROM activities WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_lead_stage_changes
DELETE FROM lead_stage_changes WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_lead_assignments
DELETE FROM lead_assignments WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_lead_scores
DELETE FROM lead_scores WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_opportunities
DELETE FROM opportunities WHERE list_contains($lead_ids, lead_id);

-- name: privacy_purge_leads
DELETE FROM leads WHERE list_contains($lead_ids, id);
