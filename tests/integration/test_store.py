import subprocess
import sys
import textwrap
import threading
import time

import pytest

from flashdash import migrations
from flashdash.store import Store, StoreCorrupt, StoreLocked, StoreMissing


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.duckdb", lock_timeout=5)
    s.ensure_schema()
    return s


def _hold_lock(path, seconds):
    """Another process that holds the store read-write for `seconds`."""
    code = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep({seconds})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_migrations_are_recorded_once(store):
    assert store.ensure_schema() == []
    assert store.scalar("schema_version") == max(v for v, _, _ in migrations.MIGRATIONS)


def test_a_version_1_store_gains_what_imports_need(store):
    with store.write() as con:  # take the store back to what version 1 created
        for table in ("imports", "import_changes", "import_quarantine"):
            con.execute(f"DROP TABLE {table}")
        for table in ("reps", "activities", "opportunities", "customers"):
            con.execute(f"DROP INDEX ix_{table}_external_id")
    with store.write() as con:  # DuckDB drops a column only once its index is gone for good
        for table in ("reps", "activities", "opportunities", "customers"):
            con.execute(f"ALTER TABLE {table} DROP COLUMN external_id")
        for column in ("lead_type", "behaviour_profile", "business_type", "declared_monthly_revenue"):
            con.execute(f"ALTER TABLE customers DROP COLUMN {column}")
        con.execute("ALTER TABLE opportunities DROP COLUMN name")
        con.execute("DELETE FROM schema_migrations WHERE version = 2")
    assert store.ensure_schema() == [2]
    with store.read() as con:
        columns = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns").fetchall()}
    assert {("reps", "external_id"), ("customers", "declared_monthly_revenue"), ("opportunities", "name"),
            ("imports", "mapping"), ("import_quarantine", "cells")} <= columns


def test_a_missing_store_says_how_to_create_one(tmp_path):
    with pytest.raises(StoreMissing, match="make run"):
        Store(tmp_path / "nope.duckdb").frame("count_leads")
    assert not (tmp_path / "nope.duckdb").exists()


def test_a_corrupt_store_says_how_to_recover(tmp_path):
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreCorrupt, match="backup"):
        Store(path).frame("count_leads")
    assert path.read_bytes() == b"not a database" * 100


def test_a_failed_write_leaves_the_store_as_it_was(store):
    before = store.version()
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO settings VALUES ('k', 'v')")
        raise RuntimeError("crash midway")
    assert store.scalar("setting", key="k") is None
    assert store.version() == before


def test_every_write_bumps_the_data_version(store):
    before = store.version()
    with store.write() as con:
        store.run("put_setting", con, key="k", value="v")
    assert store.version() != before
    assert store.scalar("setting", key="k") == "v"


def test_a_lock_held_briefly_by_another_process_is_waited_out(store):
    proc = _hold_lock(store.path, 1.0)
    t0 = time.monotonic()
    assert store.scalar("count_leads") == 0
    assert time.monotonic() - t0 >= 0.5
    proc.wait(timeout=10)


def test_a_lock_held_too_long_surfaces_as_a_clear_error(tmp_path, store):
    proc = _hold_lock(store.path, 5.0)
    try:
        with pytest.raises(StoreLocked, match="busy"):
            Store(store.path, lock_timeout=0.5).scalar("count_leads")
    finally:
        proc.kill()
        proc.wait()


def test_threads_each_get_their_own_connection(store):
    errors = []

    def work(i):
        try:
            for j in range(20):
                with store.write() as con:
                    con.execute("INSERT INTO settings VALUES (?, ?)", [f"t{i}-{j}", "x"])
                store.scalar("count_leads")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM settings WHERE key LIKE 't%'").fetchone()[0] == 80


def test_threads_that_change_the_same_row_at_once_each_get_their_turn_rather_than_a_conflict(store):
    with store.write() as con:
        con.execute("INSERT INTO settings VALUES ('counter', '0')")
    errors = []

    def work():
        try:
            for _ in range(10):
                with store.write() as con:
                    (n,) = con.execute("SELECT value FROM settings WHERE key = 'counter'").fetchone()
                    time.sleep(0.002)  # a unit of work that takes a moment, as a user's write does
                    con.execute("UPDATE settings SET value = ? WHERE key = 'counter'", [str(int(n) + 1)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []  # without one write at a time: "TransactionContext Error: Conflict on update!"
    assert store.scalar("setting", key="counter") == "40"  # and no increment lost


def test_unused_and_missing_parameters_are_handled_by_name(store):
    assert store.scalar("setting", key="absent", unrelated=1) is None
    with pytest.raises(KeyError, match="needs parameters"):
        store.scalar("setting")


def test_advance_sequence_moves_past_bulk_inserted_ids(store):
    with store.write() as con:
        con.execute("INSERT INTO regions VALUES (41, 'North'), (42, 'South')")
        store.advance_sequence(con, "regions")
        (new_id,) = con.execute("INSERT INTO regions VALUES (nextval('regions_id_seq'), 'East') RETURNING id").fetchone()
    assert new_id == 43


def test_sqlmodel_sessions_share_the_unit_of_work_and_roll_back_whole(store):
    from flashdash.entities import Region

    with store.session() as s:
        s.add(Region(name="North"))
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Region(name="South"))
        s.flush()
        raise RuntimeError("crash after the flush")
    with store.read() as con:
        assert con.execute("SELECT name FROM regions").fetchall() == [("North",)]
