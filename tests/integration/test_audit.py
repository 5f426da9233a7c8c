"""The audit trail on a real store: sealing the hash chain, verifying it (and naming the first broken record),
redaction, the command line's exit codes, the Admin search and one record's history by role."""

from __future__ import annotations

import argparse
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flashdash import audit, leads, qualification
from flashdash.access import AccessDenied, resolve_actor
from flashdash.activities import NewActivity, log_activity
from flashdash.store import Store, copy_file
from tests import stored
from tests.conftest import NOW


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


def _change(store: Store, query: str, params: list | None = None) -> None:
    """Tampering: a change straight to the table, as someone with the file could make."""
    with store.write() as con:
        con.execute(query, params or [])


def _sealed_token(store: Store, rid: int) -> str:
    """A sealed value inside the record's after, as stored."""
    with store.read() as con:
        (after,) = con.execute("SELECT after FROM audit_log WHERE id = ?", [rid]).fetchone()
    match = re.search(r"enc1:[^\"]+", after)
    assert match, f"record {rid} holds no sealed value: {after}"
    return match.group(0)


def _chain(store: Store) -> list[tuple]:
    return _rows(store, "SELECT id, seq, content_hash, prev_hash, hash FROM audit_log ORDER BY id")


@pytest.fixture(scope="module")
def trail_store(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict]:
    """The demo store after a day's work: a rep's new lead (with contact details), an activity whose notes name
    the contact, a stage move; the trail sealed, then one more record awaiting the seal. Built once; each test
    gets a copy (`trail`)."""
    path = tmp_path_factory.mktemp("audit") / "trail.duckdb"
    copy_file(demo_store.path, path)
    store = Store(path)
    rep = resolve_actor(store, "rep")
    made = leads.create_lead(store, rep, leads.NewLead("Casa Blanca Tacos", contact_name="Rosa Delgado",
                                                       email="rosa@casablanca.example", phone="+1 305 555 0101",
                                                       vertical="restaurants", interest_level="hot"),
                             NOW - timedelta(hours=2))
    lead_id = made["id"]
    log_activity(store, rep, NewActivity(lead_id, "call", NOW - timedelta(hours=1), 20, "connected",
                                         "Rosa asked for the fee sheet"), NOW)
    qualification.change_stage(store, rep, [lead_id], "disqualified", "no budget this year", NOW)
    sealed = audit.seal(store, NOW)
    with store.write() as con:
        audit.record(con, "admin", "update", "setting", "retention", NOW, before={"months": 24},
                     after={"months": 18}, reason="policy review")
    return store, {"lead_id": lead_id, "sealed": sealed}


@pytest.fixture
def trail(trail_store: tuple[Store, dict], tmp_path: Path) -> tuple[Store, dict]:
    """A copy of the day's trail that the test may change."""
    store, info = trail_store
    copy = tmp_path / "trail.duckdb"
    copy_file(store.path, copy)
    return Store(copy), info


# ---------------------------------------------------------------- sealing


def test_the_seal_numbers_every_record_in_id_order_and_links_each_to_the_one_before(trail) -> None:
    store, info = trail
    chain = [r for r in _chain(store) if r[1] is not None]
    assert info["sealed"] == len(chain) > 5
    assert [r[1] for r in chain] == list(range(1, len(chain) + 1))
    assert chain[0][3] == ""
    for before, after in zip(chain, chain[1:], strict=False):
        assert after[3] == before[4]
        assert after[4] == audit.link_hash(after[3], after[2])
    (last,) = [r for r in _chain(store) if r[1] is None]
    assert last[2:] == (None, None, None)


def test_sealing_twice_changes_nothing_and_writes_nothing(trail) -> None:
    store, _ = trail
    audit.seal(store, NOW)
    chain, version = _chain(store), store.version()
    assert audit.seal(store, NOW) == 0
    assert _chain(store) == chain
    assert store.version() == version


def test_a_record_committed_after_a_later_one_was_sealed_joins_the_end_of_the_chain(trail) -> None:
    store, _ = trail
    audit.seal(store, NOW)
    with store.write() as slow:  # a long write that took its record's id first
        audit.record(slow, "rep", "update", "lead", 1, NOW, after={"x": 1})
        with store.write() as quick:
            audit.record(quick, "rep", "update", "lead", 2, NOW, after={"x": 2})
        assert audit.seal(store, NOW) == 1
    assert audit.seal(store, NOW) == 1
    (slow_row, quick_row) = _rows(store, "SELECT id, seq FROM audit_log WHERE entity = 'lead' AND entity_id IN "
                                         "('1', '2') AND actor = 'rep' AND after LIKE '{\"x\"%' ORDER BY entity_id")
    assert slow_row[0] < quick_row[0] and slow_row[1] > quick_row[1]
    assert audit.verify(store)["ok"]


def test_of_two_sealers_at_once_the_second_fails_and_changes_nothing(trail) -> None:
    store, _ = trail
    with store.write() as first:
        assert audit.seal_within(store, first) == 1
        with pytest.raises(duckdb.TransactionException), store.write() as second:
            audit.seal_within(store, second)
        assert audit.seal(store, NOW) == 0  # the job's body: the conflict is logged, not raised
    result = audit.verify(store)
    assert result["ok"] and result["unsealed"] == 0


# ---------------------------------------------------------------- verifying


def test_a_sealed_trail_verifies_and_records_awaiting_the_seal_are_counted_not_failed(trail) -> None:
    store, info = trail
    result = audit.verify(store)
    assert result["ok"] and result["first_broken"] is None
    assert (result["sealed"], result["unsealed"]) == (info["sealed"], 1)
    assert result["message"] == f"Audit trail intact: {info['sealed']} records sealed, 1 awaiting the next seal"
    assert result["head"]["seq"] == info["sealed"]


def test_verify_walks_the_chain_in_batches(trail) -> None:
    store, info = trail
    assert audit.verify(store, batch=2) == audit.verify(store)


def test_a_record_renumbered_far_ahead_is_found_without_walking_the_gap(trail) -> None:
    store, info = trail
    _change(store, "UPDATE audit_log SET seq = 2000000000 WHERE seq = ?", [info["sealed"]])
    found = audit.verify(store, batch=2)["first_broken"]
    assert (found["seq"], found["kind"]) == (2000000000, "seq gap")


def _target(store: Store) -> tuple[int, int]:
    """The activity's record: id and seq, somewhere in the middle of the chain."""
    ((rid, seq),) = _rows(store, "SELECT id, seq FROM audit_log WHERE entity = 'activity' AND seq IS NOT NULL")
    return rid, seq


def _activity_id(store: Store) -> str:
    ((entity_id,),) = _rows(store, "SELECT entity_id FROM audit_log WHERE entity = 'activity'")
    return entity_id


def _next(store: Store, seq: int) -> int:
    ((rid,),) = _rows(store, "SELECT id FROM audit_log WHERE seq = ?", [seq + 1])
    return rid


def test_an_edited_after_is_found_and_its_record_named(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    # the call's length, not '20' anywhere: that could also hit a sealed value's random bytes
    _change(store, """UPDATE audit_log SET after = replace(after, '"duration_min": 20', '"duration_min": 200')
                      WHERE id = ?""", [rid])
    broken = audit.verify(store)
    assert not broken["ok"]
    record = f"Record {rid} (seq {seq}, {NOW:%Y-%m-%d %H:%M}, rep create activity {_activity_id(store)})"
    assert broken["first_broken"] == {"id": rid, "seq": seq, "kind": "content changed", "record": record,
                                      "problem": "its content no longer matches its hash"}
    assert broken["message"] == f"{record}: its content no longer matches its hash"


def test_a_deleted_record_is_found_at_the_record_after_it(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    after = _next(store, seq)
    _change(store, "DELETE FROM audit_log WHERE id = ?", [rid])
    found = audit.verify(store)["first_broken"]
    assert (found["id"], found["seq"], found["kind"]) == (after, seq + 1, "record deleted")
    assert f"(seq {seq}) is missing" in found["problem"]


def test_two_records_with_their_seqs_swapped_break_the_link_of_the_first(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    after = _next(store, seq)
    _change(store, "UPDATE audit_log SET seq = CASE WHEN id = ? THEN ? ELSE ? END WHERE id IN (?, ?)",
            [rid, seq + 1, seq, rid, after])
    found = audit.verify(store)["first_broken"]
    assert (found["id"], found["seq"], found["kind"]) == (after, seq, "link broken")


def test_a_changed_record_with_its_own_hashes_recomputed_breaks_the_next_link(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    _change(store, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = ?", [rid])
    (row,) = _rows(store, "SELECT id, logged_at, actor, action, entity, entity_id, before, after, reason, prev_hash "
                          "FROM audit_log WHERE id = ?", [rid])
    named = dict(zip(["id", "logged_at", "actor", "action", "entity", "entity_id", "before", "after", "reason"],
                     row[:9], strict=True))
    content = audit.content_hash(named)
    _change(store, "UPDATE audit_log SET content_hash = ?, hash = ? WHERE id = ?",
            [content, audit.link_hash(row[9], content), rid])
    found = audit.verify(store)["first_broken"]
    assert (found["id"], found["seq"], found["kind"]) == (_next(store, seq), seq + 1, "link broken")
    assert f"record {rid}, seq {seq}" in found["problem"]


def test_the_command_line_exits_0_when_intact_and_1_naming_the_broken_record(trail, capsys) -> None:
    store, info = trail
    args = argparse.Namespace(db=str(store.path))
    assert audit.cmd_verify(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Audit trail intact: {info['sealed']} records sealed, 1 awaiting the next seal\n")
    assert "Chain head: seq" in out
    rid, seq = _target(store)
    _change(store, "UPDATE audit_log SET actor = 'admin' WHERE id = ?", [rid])
    assert audit.cmd_verify(args) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"Record {rid} (seq {seq}, {NOW:%Y-%m-%d %H:%M}, admin create activity {_activity_id(store)}): "
                     "its content no longer matches its hash")


# ---------------------------------------------------------------- redaction


def _redact_lead(store: Store, lead_id: int) -> int:
    ids = [r[0] for r in _rows(store, "SELECT id FROM audit_log WHERE entity = 'lead' AND entity_id = ?",
                               [str(lead_id)])]
    with store.write() as con:
        return audit.redact(store, con, ids, NOW + timedelta(days=1), ("contact_name", "email", "phone"),
                            needles=["rosa@casablanca.example"])


def test_a_redaction_blanks_the_personal_data_and_the_trail_still_verifies(trail) -> None:
    store, info = trail
    assert _redact_lead(store, info["lead_id"]) == 1
    text = " ".join(str(r) for r in _rows(store, "SELECT before, after FROM audit_log"))
    assert "rosa@casablanca.example" not in text and "555 0101" not in text and "Rosa Delgado" not in text
    assert audit.verify(store)["ok"]
    audit.seal(store, NOW)  # the redaction's own record joins the chain
    result = audit.verify(store)
    assert result["ok"] and result["redacted"] == 1 and result["unsealed"] == 0


def test_after_a_redaction_any_other_change_is_still_found(trail) -> None:
    store, info = trail
    _redact_lead(store, info["lead_id"])
    audit.seal(store, NOW)
    rid, seq = _target(store)
    _change(store, "UPDATE audit_log SET reason = 'edited' WHERE id = ?", [rid])
    assert audit.verify(store)["first_broken"]["id"] == rid


def test_a_record_marked_redacted_by_hand_is_refused(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    _change(store, "UPDATE audit_log SET after = '{}', redacted_at = ? WHERE id = ?", [NOW, rid])
    found = audit.verify(store)["first_broken"]
    assert (found["id"], found["kind"]) == (rid, "content changed")
    assert "no redaction record lists it" in found["problem"]


# ---------------------------------------------------------------- search and history


def test_the_admin_search_narrows_by_each_filter_and_puts_the_newest_first(trail) -> None:
    store, info = trail
    admin = resolve_actor(store, "admin")
    every = audit.search(store, admin)
    assert every.height == audit.search_count(store, admin) == _rows(store, "SELECT count(*) FROM audit_log")[0][0]
    assert every["logged_at"].is_sorted(descending=True)
    lead = audit.search(store, admin, audit.AuditFilters(entity="lead", entity_id=str(info["lead_id"])))
    assert set(lead["action"]) >= {"create", "stage_change"} and set(lead["entity_id"]) == {str(info["lead_id"])}
    moved = audit.search(store, admin, audit.AuditFilters(who="rep", action="stage_change", text="NO BUDGET"))
    assert moved.height == 1
    assert moved["changes"][0].startswith("status: ") and moved["changes"][0].endswith(" → disqualified")
    assert audit.search(store, admin, audit.AuditFilters(start=date(2030, 1, 1))).is_empty()
    assert audit.search(store, admin, limit=2).height == 2


def test_the_search_refuses_a_reversed_date_range_and_a_non_admin(trail) -> None:
    store, _ = trail
    admin = resolve_actor(store, "admin")
    with pytest.raises(ValueError, match="swap them"):
        audit.search(store, admin, audit.AuditFilters(start=date(2026, 7, 1), end=date(2026, 6, 1)))
    for role in ("rep", "manager", "analyst", "executive"):
        with pytest.raises(AccessDenied):
            audit.search(store, resolve_actor(store, role))


def test_a_leads_history_shows_its_creation_activity_and_stage_change_field_by_field(trail) -> None:
    store, info = trail
    frame = audit.history(store, resolve_actor(store, "rep"), "lead", info["lead_id"])
    assert frame.columns == list(audit.HISTORY_SCHEMA)
    assert {"create", "stage_change"} <= set(frame.filter(pl.col("entity") == "lead")["action"])
    assert frame.filter((pl.col("entity") == "lead") & (pl.col("field") == "email"))["after"].to_list() == [
        "rosa@casablanca.example"]
    notes = frame.filter((pl.col("entity") == "activity") & (pl.col("field") == "notes"))
    assert notes["after"].to_list() == ["Rosa asked for the fee sheet"]
    stage = frame.filter(pl.col("action") == "stage_change").row(-1, named=True)  # the rules' move to MQL came first
    assert (stage["field"], stage["after"], stage["reason"]) == ("status", "disqualified", "no budget this year")
    assert frame["logged_at"].is_sorted()


def test_an_analyst_reads_a_leads_history_with_the_contact_masked_everywhere(trail) -> None:
    store, info = trail
    frame = audit.history(store, resolve_actor(store, "analyst"), "lead", info["lead_id"])
    text = " ".join(str(v) for row in frame.iter_rows() for v in row)
    assert "rosa@casablanca.example" not in text and "555 0101" not in text and "Rosa" not in text
    assert frame.filter(pl.col("field") == "email")["after"].to_list() == [audit.MASK]
    assert frame.filter(pl.col("field") == "notes")["after"].to_list() == [f"{audit.MASK} asked for the fee sheet"]
    assert frame.filter(pl.col("field") == "status").height >= 1  # what is not a contact detail stays readable


def test_a_lead_outside_a_reps_book_has_no_history_for_them(trail) -> None:
    store, info = trail
    rep = resolve_actor(store, "rep")
    ((other,),) = _rows(store, "SELECT min(id) FROM leads WHERE owner_id <> ?", [rep.rep_id])
    with pytest.raises(AccessDenied, match="in your book"):
        audit.history(store, rep, "lead", other)
    with pytest.raises(AccessDenied, match="in your book"):
        audit.history(store, rep, "lead", 10**9)


def test_other_entities_histories_are_for_admins_only(trail) -> None:
    store, _ = trail
    frame = audit.history(store, resolve_actor(store, "admin"), "setting", "retention")
    assert frame.select("field", "before", "after").rows() == [("months", "24", "18")]
    with pytest.raises(AccessDenied, match="Only admins"):
        audit.history(store, resolve_actor(store, "manager"), "setting", "retention")


def test_a_sealed_value_altered_inside_a_record_is_found_as_changed_content_not_a_crash(trail) -> None:
    store, _ = trail
    rid, seq = _target(store)
    token = _sealed_token(store, rid)
    altered = token[:-6] + ("AAAA" if token[-6:-2] != "AAAA" else "BBBB") + token[-2:]
    _change(store, "UPDATE audit_log SET after = replace(after, ?, ?) WHERE id = ?", [token, altered, rid])
    broken = audit.verify(store)
    assert not broken["ok"]
    assert (broken["first_broken"]["id"], broken["first_broken"]["kind"]) == (rid, "content changed")
    assert "a sealed value in it does not open" in broken["first_broken"]["problem"]
