-- The audit trail (flashdash.audit): sealing the hash chain, verifying it, searching it, one record's history.

-- name: audit_unsealed_count
SELECT count(*) FROM audit_log WHERE seq IS NULL;

-- name: audit_chain_head
-- The last sealed record: the next seal links to its hash and numbers on from its seq.
SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;

-- name: audit_unsealed_range
SELECT min(id) AS first, max(id) AS last FROM audit_log WHERE seq IS NULL;

-- name: audit_next_unsealed
SELECT min(id) FROM audit_log WHERE seq IS NULL AND id > $after;

-- name: audit_unsealed_batch
-- The records awaiting the seal with ids in ($lo, $hi], in id order (a window of ids, not LIMIT: each window
-- reads only its own row groups).
SELECT id, logged_at, actor, action, entity, entity_id, before, after, reason
FROM audit_log
WHERE seq IS NULL AND id > $lo AND id <= $hi
ORDER BY id;

-- name: audit_apply_seal
-- Fill the chain columns of one batch of records; only records still unsealed, so a record another sealer
-- got to first is left alone (and the two transactions conflict: see flashdash.audit.seal).
UPDATE audit_log AS a
SET seq = b.seq, content_hash = b.content_hash, prev_hash = b.prev_hash, hash = b.hash
FROM (SELECT unnest($ids) AS id, unnest($seqs) AS seq, unnest($content_hashes) AS content_hash,
             unnest($prev_hashes) AS prev_hash, unnest($hashes) AS hash) AS b
WHERE a.id = b.id AND a.seq IS NULL;

-- name: audit_sealed_batch
-- The sealed records with seq in ($lo, $hi], in chain order, with everything verify checks. A window of seqs
-- rather than LIMIT: the seal writes seqs in storage order, so each window reads only its own row groups, and
-- records sharing a seq (a renumbering) come in the same window.
SELECT id, logged_at, actor, action, entity, entity_id, before, after, reason,
       seq, content_hash, prev_hash, hash, redacted_at
FROM audit_log
WHERE seq > $lo AND seq <= $hi
ORDER BY seq, id;

-- name: audit_seq_range
SELECT min(seq) AS first, max(seq) AS last FROM audit_log;

-- name: audit_next_seq
-- Where the walk goes on after a window without records (so that a seq far ahead is reached at once).
SELECT min(seq) FROM audit_log WHERE seq > $after;

-- name: audit_counts
SELECT count(seq) AS sealed, count(*) - count(seq) AS unsealed, count(redacted_at) AS redacted,
       max(logged_at) AS newest
FROM audit_log;

-- name: audit_records_by_id
SELECT id, before, after, content_hash, redacted_at FROM audit_log WHERE list_contains($record_ids, id) ORDER BY id;

-- name: audit_redaction_records
-- The records of redactions (flashdash.audit.redact): each lists the ids it blanked.
SELECT after FROM audit_log WHERE entity = 'audit_log' AND action = 'redact' ORDER BY id;

-- name: audit_apply_redaction
UPDATE audit_log AS a
SET before = b.before, after = b.after, redacted_at = $now
FROM (SELECT unnest($ids) AS id, unnest($befores) AS before, unnest($afters) AS after) AS b
WHERE a.id = b.id;

-- name: audit_search
-- The records matching the Admin view's filters, newest first.
SELECT id, seq, logged_at, actor, action, entity, entity_id, reason, before, after, redacted_at
FROM audit_matching($start, $end, $who, $action, $entity, $entity_id, $text)
ORDER BY logged_at DESC, id DESC
LIMIT $limit;

-- name: audit_search_count
SELECT count(*) FROM audit_matching($start, $end, $who, $action, $entity, $entity_id, $text);

-- name: audit_facets
-- The values the Admin view's filters offer.
SELECT 'actor' AS facet, actor AS value FROM audit_log GROUP BY actor
UNION ALL SELECT 'action', action FROM audit_log GROUP BY action
UNION ALL SELECT 'entity', entity FROM audit_log GROUP BY entity
ORDER BY facet, value;

-- name: audit_lead_in_scope
-- The lead, if the acting user may see it (the scope of the lead's page: its owner among the actor's reps),
-- with the contact details a masked view blanks wherever they appear.
SELECT id, contact_name, email, phone FROM leads
WHERE id = $lead_id AND ($scope_all OR list_contains($scope_reps, owner_id));

-- name: audit_lead_history
-- A lead's audit records, oldest first: the lead's own, and those of its activities, tasks, emails and sequence
-- enrollments (found through their tables, or, for a row since deleted, through the lead_id its record kept).
WITH related AS (
    SELECT 'activity' AS entity, CAST(id AS VARCHAR) AS entity_id FROM activities WHERE lead_id = $lead_id
    UNION ALL SELECT 'task', CAST(id AS VARCHAR) FROM tasks WHERE lead_id = $lead_id
    UNION ALL SELECT 'email', CAST(id AS VARCHAR) FROM emails WHERE lead_id = $lead_id
    UNION ALL SELECT 'sequence_enrollment', CAST(id AS VARCHAR) FROM sequence_enrollments WHERE lead_id = $lead_id
)
SELECT a.id, a.logged_at, a.actor, a.action, a.entity, a.entity_id, a.before, a.after, a.reason
FROM audit_log a
WHERE (a.entity = 'lead' AND a.entity_id = CAST($lead_id AS VARCHAR))
   OR EXISTS (SELECT 1 FROM related r WHERE r.entity = a.entity AND r.entity_id = a.entity_id)
   OR (a.entity IN ('activity', 'task', 'email', 'sequence_enrollment')
       AND coalesce(CASE WHEN json_valid(a.after) THEN json_extract_string(a.after, '$.lead_id') END,
                    CASE WHEN json_valid(a.before) THEN json_extract_string(a.before, '$.lead_id') END)
           = CAST($lead_id AS VARCHAR))
ORDER BY a.logged_at, a.id;

-- name: audit_entity_history
-- Any other entity's audit records, oldest first.
SELECT id, logged_at, actor, action, entity, entity_id, before, after, reason
FROM audit_log
WHERE entity = $entity AND entity_id = $entity_id
ORDER BY logged_at, id;
