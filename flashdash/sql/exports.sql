-- Export, backup and restore: the catalog questions they ask. Table names come from the store's own
-- catalog or from the exports module's fixed list, never from user text.

-- name: export_columns
SELECT column_name FROM duckdb_columns()
WHERE database_name = current_database() AND schema_name = 'main' AND table_name = $table
ORDER BY column_index;

-- name: backup_tables
SELECT table_name FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary
ORDER BY table_name;
