"""Backup and restore of the whole store.

A backup is a folder written by DuckDB's EXPORT DATABASE (schema.sql: tables, sequences at their
current values, macros and indexes; load.sql; one Parquet file per table) plus manifest.json: when,
from which store, the schema version, each table's row count and each file's SHA-256. Trained models
are not part of it: `python -m flashdash train` rebuilds them from the restored data.

A restore checks the manifest first (every file present, every checksum equal), builds the restored
store in a new file beside the live one, checks its row counts against the manifest, and only then
swaps it in, keeping the replaced store beside it. Any failure before the swap leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.exports import CLI_ACTOR
from flashdash.store import Store, StoreError

MANIFEST = "manifest.json"
FORMAT = "flashdash-backup"
FORMAT_VERSION = 1
MODELS_NOTE = "Trained models are not part of a backup: run `python -m flashdash train` after a restore."


class BackupError(StoreError):
    """A backup that cannot be written or restored; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    tables: dict[str, int]
    bytes: int
    replaced: bool  # the folder held an earlier backup, now replaced

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    tables: dict[str, int]
    kept: Path | None  # the replaced store, moved aside (None when there was none)
    created_at: str

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def backup_root(store: Store) -> Path:
    """Where the app writes its backups: FLASHDASH_BACKUP_DIR, else `backups/` beside the store."""
    configured = os.environ.get("FLASHDASH_BACKUP_DIR")
    return Path(configured) if configured else store.path.parent / "backups"


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != "admin" or not actor.sees_all:
        raise AccessDenied(f"Only admins can {what} the store.")


def _literal(path: Path) -> str:
    # EXPORT and IMPORT DATABASE take a string literal, not a bound parameter.
    return "'" + str(path).replace("'", "''") + "'"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path | str) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is not a backup."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None


def _check_target(directory: Path) -> bool:
    """May a backup be written to `directory`? True when it replaces an earlier backup there."""
    if not directory.exists():
        return False
    if not directory.is_dir():
        raise BackupError(f"{directory} is a file, not a folder; choose a new or empty folder for the backup.")
    if not any(directory.iterdir()):
        return False
    if read_manifest(directory) is None:
        raise BackupError(
            f"{directory} is not empty and holds no backup (no {MANIFEST}); nothing was written. "
            "Choose a new or empty folder, or an earlier backup's folder to replace it."
        )
    return True


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    # Identifiers cannot be bound; the table name comes from the store's own catalog.
    ((n,),) = con.execute('SELECT count(*) FROM "' + table.replace('"', '""') + '"').fetchall()  # noqa: S608
    return int(n)


def backup(store: Store, directory: Path | str, now: datetime, actor: Actor = CLI_ACTOR) -> BackupResult:
    """Write the whole store to `directory` (new, empty, or an earlier backup to replace)."""
    _require_admin(actor, "back up")
    directory = Path(directory).absolute()
    replaced = _check_target(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed into place, so a failed backup leaves no half folder.
    partial = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with store.read() as con:
            con.execute("BEGIN TRANSACTION")  # counts and files from one snapshot
            tables = {t: _count(con, t) for t in store.frame("backup_tables", con)["table_name"]}
            version = store.scalar("schema_version", con)
            con.execute(f"EXPORT DATABASE {_literal(partial)} (FORMAT parquet, COMPRESSION zstd)")
            con.execute("COMMIT")
        files = {p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size}
                 for p in sorted(partial.iterdir()) if p.is_file()}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": now.isoformat(),
            "source": str(store.path.absolute()),
            "schema_version": version,
            "duckdb_version": duckdb.__version__,
            "tables": tables,
            "files": files,
            "models": MODELS_NOTE,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _move_into_place(partial, directory)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = sum(f["bytes"] for f in files.values())
    with store.write() as con:
        audit.record(con, actor.username, "backup", "store", None, now,
                     after={"directory": str(directory), "rows": sum(tables.values()), "bytes": size})
    return BackupResult(directory, tables, size, replaced)


def _move_into_place(partial: Path, directory: Path) -> None:
    if directory.exists() and not any(directory.iterdir()):
        directory.rmdir()
    if not directory.exists():
        partial.rename(directory)
        return
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    directory.rename(old)
    partial.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def verify(directory: Path | str) -> dict[str, Any]:
    """The backup's manifest, once every file it lists is present with its checksum; else BackupError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BackupError(f"There is no backup folder at {directory}.")
    manifest = read_manifest(directory)
    if manifest is None:
        raise BackupError(f"{directory} is not a backup: it has no readable {MANIFEST}. Nothing was restored.")
    files: dict[str, dict[str, Any]] = manifest.get("files") or {}
    problems = [f"{name} is missing from the manifest" for name in ("schema.sql", "load.sql") if name not in files]
    for name, info in sorted(files.items()):
        path = directory / name
        if Path(name).name != name:
            problems.append(f"{name} is not a plain file name")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != info.get("bytes") or _sha256(path) != info.get("sha256"):
            problems.append(f"{name} does not match its checksum")
    if problems:
        raise BackupError(f"The backup in {directory} is incomplete or damaged ({'; '.join(problems)}). "
                          "Nothing was restored; use another backup.")
    return manifest


def restore(store: Store, directory: Path | str, now: datetime, actor: Actor = CLI_ACTOR) -> RestoreResult:
    """Replace the store with the backup in `directory`; the replaced store is kept beside it."""
    _require_admin(actor, "restore")
    directory = Path(directory).absolute()
    manifest = verify(directory)
    expected: dict[str, int] = manifest.get("tables") or {}
    store.path.parent.mkdir(parents=True, exist_ok=True)
    work = store.path.parent / f".{store.path.name}.restore-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        staged = Store(work / store.path.name, lock_timeout=store.lock_timeout)
        with staged.write(create=True) as con:
            con.execute(f"IMPORT DATABASE {_literal(directory)}")
            found = {t: _count(con, t) for t in staged.frame("backup_tables", con)["table_name"]}
            wrong = [f"{t}: {found.get(t, 'no table')} rows, expected {n}" for t, n in expected.items()
                     if found.get(t) != n]
            if wrong:
                raise BackupError(f"The backup in {directory} did not load whole ({'; '.join(wrong)}). "
                                  "Nothing was restored.")
            audit.record(con, actor.username, "restore", "store", None, now,
                         after={"directory": str(directory), "backup_created_at": manifest.get("created_at"),
                                "rows": sum(expected.values())})
        staged.ensure_schema(now)  # migrations newer than the backup, and this version's macros
        if Path(f"{staged.path}.wal").exists():
            raise BackupError(f"The restored store {staged.path} was not written out whole. Nothing was restored.")
        kept = _swap(store, staged.path, now)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    store._bump_version()  # running apps drop their cached reads of the replaced store
    return RestoreResult(store.path, expected, kept, str(manifest.get("created_at")))


def _aside_path(store: Store, now: datetime) -> Path:
    base = f"{store.path.stem}.before-restore-{now:%Y%m%d-%H%M%S}"
    kept = store.path.with_name(f"{base}{store.path.suffix}")
    n = 1
    while kept.exists():
        n += 1
        kept = store.path.with_name(f"{base}-{n}{store.path.suffix}")
    return kept


def _swap(store: Store, staged: Path, now: datetime) -> Path | None:
    """Put the staged file at the store's path; returns where the replaced store was kept."""
    if not store.exists():
        os.replace(staged, store.path)
        return None
    kept = _aside_path(store, now)
    # Held through the swap: DuckDB lets no other process open the file meanwhile, and one waiting for
    # it opens the restored store once it gets its turn. CHECKPOINT first, so no WAL of the old store
    # is left behind to be replayed into the new one.
    with store.read() as con:
        con.execute("CHECKPOINT")
        if Path(f"{store.path}.wal").exists():
            raise BackupError(f"The store at {store.path} has changes not yet written out (a .wal file). "
                              "Stop the app and the scheduler, then restore again. Nothing was restored.")
        try:
            os.link(store.path, kept)  # the old file under a second name; the store's path never goes missing
        except OSError:
            # A file system without hard links: rename it aside, leaving a moment with no store.
            os.replace(store.path, kept)
        os.replace(staged, store.path)
    return kept


def list_backups(root: Path | str) -> pl.DataFrame:
    """The backups in `root` (one folder each), newest first, with their manifests' figures."""
    root = Path(root)
    rows = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = read_manifest(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if manifest is None:
            continue
        tables: dict[str, int] = manifest.get("tables") or {}
        files: dict[str, dict[str, Any]] = manifest.get("files") or {}
        rows.append({
            "backup": folder.name,
            "created_at": manifest.get("created_at"),
            "schema_version": manifest.get("schema_version"),
            "tables": len(tables),
            "rows": sum(tables.values()),
            "leads": tables.get("leads"),
            "size_mb": round(sum(int(f.get("bytes") or 0) for f in files.values()) / 1e6, 2),
            "path": str(folder),
        })
    schema = {"backup": pl.String, "created_at": pl.String, "schema_version": pl.Int64, "tables": pl.Int64,
              "rows": pl.Int64, "leads": pl.Int64, "size_mb": pl.Float64, "path": pl.String}
    return pl.DataFrame(rows, schema=schema).sort("created_at", descending=True, nulls_last=True)
