"""Backup and restore of the whole store: an equal round trip, sequences that continue, refusals that change nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import backup
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store, StoreLocked, copy_file
from tests.conftest import NOW

LATER = datetime(2026, 7, 1, 9, 30)


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the demo store: backups and restores write audit records."""
    copy = tmp_path / "live" / "demo.duckdb"
    copy.parent.mkdir()
    copy_file(demo_store.path, copy)
    return Store(copy)


def _tables(store: Store) -> dict[str, pl.DataFrame]:
    """Every table, rows sorted, so that two stores compare by content."""
    with store.read() as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: (f := con.sql(f'SELECT * FROM "{n}"').pl()).sort(f.columns, nulls_last=True) for n in names}


def _macros(store: Store) -> set[str]:
    with store.read() as con:
        return {n for (n,) in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal"
        ).fetchall()}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _without(frame: pl.DataFrame, action: str) -> pl.DataFrame:
    return frame.filter(pl.col("action") != action)


def test_a_backup_restored_into_another_path_has_every_table_equal(store: Store, tmp_path: Path) -> None:
    done = backup.backup(store, tmp_path / "bk", NOW)
    before = _tables(store)
    assert done.tables["leads"] == before["leads"].height == 2_000
    assert done.tables == {n: f.height for n, f in before.items()} | {"audit_log": before["audit_log"].height - 1}

    target = Store(tmp_path / "elsewhere" / "restored.duckdb")
    result = backup.restore(target, tmp_path / "bk", LATER)
    assert result.kept is None and result.path == target.path
    after = _tables(target)
    assert after.keys() == before.keys()
    for name in before.keys() - {"audit_log"}:
        assert_frame_equal(after[name], before[name], check_row_order=True)
    # The backup is recorded after the files are written; the restore is recorded in the restored store.
    assert_frame_equal(_without(after["audit_log"], "restore"), _without(before["audit_log"], "backup"))
    assert _without(after["audit_log"], "backup").height == after["audit_log"].height
    assert after["audit_log"].filter(pl.col("action") == "restore")["actor"].to_list() == ["cli"]
    assert _macros(target) == _macros(store) >= {"scoped_leads", "scoped_opportunities"}


def test_sequences_continue_after_the_largest_id_once_restored(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    target = Store(tmp_path / "restored.duckdb")
    backup.restore(target, tmp_path / "bk", LATER)
    with target.write() as con:
        ((max_lead,),) = con.execute("SELECT max(id) FROM leads").fetchall()
        ((lead_id,),) = con.execute(
            "INSERT INTO leads (merchant_name, submitted_at, status) VALUES ('New Merchant', ?, 'new') RETURNING id",
            [LATER],
        ).fetchall()
        ((max_activity,),) = con.execute("SELECT max(id) FROM activities").fetchall()
        ((activity_id,),) = con.execute(
            "INSERT INTO activities (lead_id, type, occurred_at) VALUES (?, 'call', ?) RETURNING id", [lead_id, LATER]
        ).fetchall()
    assert lead_id == max_lead + 1
    assert activity_id == max_activity + 1


def test_the_macros_work_in_the_restored_store(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    target = Store(tmp_path / "restored.duckdb")
    backup.restore(target, tmp_path / "bk", LATER)
    query = ("SELECT count(*) FROM scoped_leads(true, [], DATE '2000-01-01', DATE '2100-01-01', [], [], [], [], [])")
    with target.read() as con:
        assert con.execute(query).fetchall() == [(2_000,)]


def test_restoring_over_a_store_keeps_the_replaced_one_and_bumps_the_data_version(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    with store.write() as con:
        con.execute("DELETE FROM activities")
    version = store.version()

    result = backup.restore(store, tmp_path / "bk", LATER)

    assert result.kept == store.path.with_name("demo.before-restore-20260701-093000.duckdb")
    assert store.scalar("count_leads") == 2_000
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM activities").fetchall()[0][0] == result.tables["activities"] > 0
    with Store(result.kept).read() as con:
        assert con.execute("SELECT count(*) FROM activities").fetchall() == [(0,)]
    assert store.version() != version
    assert sorted(p.name for p in store.path.parent.iterdir() if not p.name.endswith((".version", ".keys"))) == \
        ["demo.before-restore-20260701-093000.duckdb", "demo.duckdb"]


def _assert_untouched(store: Store, digest: str) -> None:
    assert _digest(store.path) == digest
    assert sorted(p.name for p in store.path.parent.iterdir() if not p.name.endswith((".version", ".keys"))) == ["demo.duckdb"]


def test_a_tampered_file_is_refused_with_a_clear_error_and_the_store_is_untouched(
        store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    with store.write() as con:
        con.execute("DELETE FROM leads WHERE id > 1000")
    digest = _digest(store.path)
    with (tmp_path / "bk" / "leads.parquet").open("r+b") as f:
        f.seek(100)
        f.write(b"tampered")

    with pytest.raises(backup.BackupError, match=r"leads\.parquet does not match its checksum.*Nothing was restored"):
        backup.restore(store, tmp_path / "bk", LATER)
    _assert_untouched(store, digest)
    assert store.scalar("count_leads") == 1_000


def test_a_partial_backup_is_refused(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    (tmp_path / "bk" / "activities.parquet").unlink()
    digest = _digest(store.path)
    with pytest.raises(backup.BackupError, match=r"activities\.parquet is missing"):
        backup.restore(store, tmp_path / "bk", LATER)
    _assert_untouched(store, digest)


def test_a_backup_whose_rows_differ_from_its_manifest_is_refused_after_loading(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["leads"] += 1
    manifest_path.write_text(json.dumps(manifest))
    digest = _digest(store.path)
    with pytest.raises(backup.BackupError, match=r"did not load whole \(leads: 2000 rows, expected 2001\)"):
        backup.restore(store, tmp_path / "bk", LATER)
    _assert_untouched(store, digest)


def test_a_folder_without_a_manifest_is_not_a_backup(store: Store, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(backup.BackupError, match="not a backup"):
        backup.restore(store, tmp_path / "nothing", LATER)
    with pytest.raises(backup.BackupError, match="no backup folder"):
        backup.restore(store, tmp_path / "missing", LATER)


def test_a_non_empty_folder_that_is_not_a_backup_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(backup.BackupError, match="not empty and holds no backup"):
        backup.backup(store, folder, NOW)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents", "live"]


def test_an_empty_folder_takes_a_backup_and_an_earlier_backup_is_replaced(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "bk"
    folder.mkdir()
    first = backup.backup(store, folder, NOW)
    with store.write() as con:
        con.execute("DELETE FROM leads WHERE id > 500")
    second = backup.backup(store, folder, LATER)
    assert (first.replaced, second.replaced) == (False, True)
    manifest = backup.verify(folder)
    assert manifest["tables"]["leads"] == 500 and manifest["created_at"] == LATER.isoformat()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bk", "live"]


def test_the_manifest_says_where_from_when_and_what(store: Store, tmp_path: Path) -> None:
    done = backup.backup(store, tmp_path / "bk", NOW)
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert manifest["source"] == str(store.path.absolute())
    assert manifest["created_at"] == NOW.isoformat()
    assert manifest["schema_version"] == store.scalar("schema_version")
    assert manifest["tables"] == done.tables
    assert {"schema.sql", "load.sql", "leads.parquet", "customer_usage.parquet"} <= manifest["files"].keys()
    for name, info in manifest["files"].items():
        assert info["sha256"] == _digest(tmp_path / "bk" / name)
    assert "python -m flashdash train" in manifest["models"]


def test_the_backups_in_a_folder_are_listed_newest_first(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "backups"
    backup.backup(store, root / "a", NOW)
    backup.backup(store, root / "b", LATER)
    (root / "stray").mkdir()
    listed = backup.list_backups(root)
    assert listed["backup"].to_list() == ["b", "a"]
    assert listed["leads"].to_list() == [2_000, 2_000]
    assert backup.list_backups(tmp_path / "none").is_empty()


def test_only_admins_may_back_up_or_restore(store: Store, tmp_path: Path) -> None:
    analyst = Actor(username="analyst", name="Avery Analyst", role="analyst")
    with pytest.raises(AccessDenied):
        backup.backup(store, tmp_path / "bk", NOW, analyst)
    assert not (tmp_path / "bk").exists()
    backup.backup(store, tmp_path / "bk", NOW)
    with pytest.raises(AccessDenied):
        backup.restore(store, tmp_path / "bk", LATER, analyst)


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the store (as the app or the scheduler does during a unit of work)."""
    code = textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(path)!r})
        print("holding", flush=True)
        time.sleep({seconds})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_restore_waits_out_another_process_holding_the_store(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    with store.write() as con:
        con.execute("DELETE FROM leads")
    proc = _hold(store.path, 1.0)
    try:
        result = backup.restore(Store(store.path, lock_timeout=30), tmp_path / "bk", LATER)
    finally:
        proc.wait(timeout=30)
    assert result.kept is not None and store.scalar("count_leads") == 2_000


def test_a_restore_refused_by_a_long_hold_says_so_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    backup.backup(store, tmp_path / "bk", NOW)
    digest = _digest(store.path)
    proc = _hold(store.path, 30.0)
    try:
        with pytest.raises(StoreLocked, match="busy"):
            backup.restore(Store(store.path, lock_timeout=0.5), tmp_path / "bk", LATER)
    finally:
        proc.kill()
        proc.wait()
    _assert_untouched(store, digest)
