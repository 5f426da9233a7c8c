-- Import history and quarantine, for the Admin page and the command line.

-- name: imports_recent
SELECT id, started_at, actor, file_name, entity, rows_read, imported, updated, skipped, quarantined,
       created, status, undone_at, undone_by
FROM imports
ORDER BY id DESC
LIMIT $limit;

-- name: import_one
SELECT * FROM imports WHERE id = $import_id;

-- name: import_quarantine_rows
SELECT row_number AS row, reason, cells
FROM import_quarantine
WHERE import_id = $import_id
ORDER BY row_number;

-- name: import_recent_leads
-- Open leads without an owner that these imports created, submitted since $since: the ones that arrive now.
SELECT l.id
FROM import_changes c
JOIN leads l ON l.id = CAST(c.row_key->>'id' AS BIGINT)
WHERE list_contains($import_ids, c.import_id) AND c.table_name = 'leads' AND c.action = 'insert'
  AND l.owner_id IS NULL AND l.submitted_at >= $since
  AND l.status IN ('new', 'mql', 'sql', 'opportunity')
ORDER BY l.id;
