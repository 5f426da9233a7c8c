"""Versioned migrations. duckdb-engine cannot reflect, so there is no autogenerate: each step is
listed here by hand and recorded in `schema_migrations`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb

from flashdash.store import SQL_DIR, create_tables, macros_digest


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    create_tables(con)


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    # Stores made by v1 lack the columns imports need; stores made now already have them.
    for table, column, kind in [
        ("reps", "external_id", "VARCHAR"), ("activities", "external_id", "VARCHAR"),
        ("opportunities", "external_id", "VARCHAR"), ("opportunities", "name", "VARCHAR"),
        ("customers", "external_id", "VARCHAR"), ("customers", "lead_type", "VARCHAR"),
        ("customers", "behaviour_profile", "VARCHAR"), ("customers", "business_type", "VARCHAR"),
        ("customers", "declared_monthly_revenue", "DOUBLE"),
    ]:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
        if column == "external_id":  # imports find records by it
            con.execute(f'CREATE INDEX IF NOT EXISTS "ix_{table}_external_id" ON "{table}" (external_id)')
    create_tables(con, ["imports", "import_changes", "import_quarantine"])


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    for column, kind in [("trigger", "VARCHAR"), ("requested_by", "VARCHAR"), ("pid", "INTEGER")]:
        con.execute(f'ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
    create_tables(con, ["lead_scores"])


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    for table, column, kind in [
        ("leads", "language", "VARCHAR"), ("leads", "budget_confirmed", "BOOLEAN DEFAULT false"),
        ("leads", "assigned_at", "TIMESTAMP"), ("reps", "max_open_leads", "INTEGER"),
        ("reps", "working_days", "VARCHAR"), ("lead_scores", "score", "DOUBLE"),
        ("lead_scores", "rule_points", "DOUBLE"), ("lead_scores", "model_key", "VARCHAR"),
        ("lead_scores", "factors", "VARCHAR"),
    ]:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
    create_tables(con, ["rep_territories", "score_rules", "qualification_criteria", "saved_views",
                        "assignment_policies", "lead_assignments", "tasks"])


def _v5(con: duckdb.DuckDBPyConnection) -> None:
    for table, column, kind in [
        ("activities", "next_step", "VARCHAR"), ("activities", "template_id", "INTEGER"),
        ("activities", "fields_typed", "INTEGER"), ("activities", "source", "VARCHAR"),
        ("leads", "do_not_contact", "BOOLEAN DEFAULT false"), ("tasks", "kind", "VARCHAR"),
        ("tasks", "rule_id", "INTEGER"), ("tasks", "enrollment_id", "INTEGER"), ("tasks", "step_id", "INTEGER"),
        ("tasks", "delegated_from", "INTEGER"), ("tasks", "reminded_at", "TIMESTAMP"),
    ]:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
    create_tables(con, ["activity_templates", "task_rules", "email_templates", "sequences", "sequence_steps",
                        "sequence_enrollments", "sequence_step_runs", "emails", "email_events"])


def _v6(con: duckdb.DuckDBPyConnection) -> None:
    for table, column, kind in [
        ("users", "failed_logins", "INTEGER DEFAULT 0"), ("users", "last_failed_login_at", "TIMESTAMP"),
        ("users", "locked_until", "TIMESTAMP"), ("users", "password_changed_at", "TIMESTAMP"),
        ("audit_log", "seq", "BIGINT"), ("audit_log", "content_hash", "VARCHAR"), ("audit_log", "prev_hash", "VARCHAR"),
        ("audit_log", "hash", "VARCHAR"), ("audit_log", "redacted_at", "TIMESTAMP"),
    ]:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names


def _v7(con: duckdb.DuckDBPyConnection) -> None:
    for table, column, kind in [
        ("leads", "email_bidx", "VARCHAR"), ("leads", "phone_bidx", "VARCHAR"), ("leads", "email_domain", "VARCHAR"),
        ("activities", "notes_sensitive", "BOOLEAN DEFAULT false"),
    ]:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
    for column in ("email_bidx", "phone_bidx"):
        con.execute(f'CREATE INDEX IF NOT EXISTS "ix_leads_{column}" ON leads ({column})')
    from flashdash import pii  # the keyring sits beside the store; sealing what an older store kept readable

    pii.seal_existing(con)


def _v8(con: duckdb.DuckDBPyConnection) -> None:
    for column, kind in [("win_reason", "VARCHAR"), ("competitor", "VARCHAR"), ("discount_pct", "DOUBLE"),
                         ("products", "VARCHAR"), ("contacts", "INTEGER")]:
        con.execute(f'ALTER TABLE opportunities ADD COLUMN IF NOT EXISTS "{column}" {kind}')  # our own names
    create_tables(con, ["opportunity_changes", "scenarios", "analytics_runs", "deal_risks"])


MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    (1, "core entities: org, leads, activities, opportunities, customers, users, audit", _v1),
    (2, "imports: external ids, declared merchant fields, import history, changes and quarantine", _v2),
    (3, "scheduler: stored lead scores; job runs say what started them and in which process", _v3),
    (4, "lead scoring, qualification and assignment: rules, criteria, saved views, policies, assignments, tasks",
     _v4),
    (5, "activities, tasks and email: templates, task rules, sequences, emails and their events, do-not-contact",
     _v5),
    (6, "security: sign-in lockout and password age; the audit trail's hash chain and redaction", _v6),
    (7, "field encryption: contact fields sealed, blind indexes for email and phone, sensitive notes", _v7),
    (8, "revenue intelligence: deal details, deal changes, scenarios, analytics runs, deal risk", _v8),
]


def apply(con: duckdb.DuckDBPyConnection, now: datetime) -> list[int]:
    """Apply pending migrations and refresh the SQL macros when their text changed."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
    )
    done = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, description, step in MIGRATIONS:
        if version in done:
            continue
        step(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, description, now])
        applied.append(version)
    digest = macros_digest()
    rows = con.execute("SELECT value FROM settings WHERE key = 'macros_digest'").fetchall()
    row = rows[0] if rows else None
    if row is None or row[0] != digest:
        con.execute((SQL_DIR / "macros.sql").read_text())
        con.execute(
            "INSERT OR REPLACE INTO settings VALUES ('macros_digest', ?)", [digest]
        )
    return applied
