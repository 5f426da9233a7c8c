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
