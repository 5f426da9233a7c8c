"""The audit trail's pure parts: the canonical record and its hashes, the chain check of one record, per-field
changes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from flashdash import audit

ROW = {"id": 1234, "logged_at": datetime(2026, 6, 30, 12, 0, 5, 250), "actor": "admin", "action": "update",
       "entity": "lead", "entity_id": "17", "before": '{"status": "new"}', "after": '{"status": "mql"}',
       "reason": "budget confirmed — café"}


def test_the_canonical_record_is_a_compact_ascii_json_array_of_the_content_fields() -> None:
    assert audit.canonical(ROW) == (
        b'["flashdash-audit-v1",1234,"2026-06-30T12:00:05.000250","admin","update","lead","17",'
        b'"{\\"status\\": \\"new\\"}","{\\"status\\": \\"mql\\"}","budget confirmed \\u2014 caf\\u00e9"]')


def test_the_content_hash_is_fixed_for_a_record_so_it_is_the_same_in_every_run() -> None:
    # A golden value: a change to the canonical format must be deliberate (and get a new CONTENT_FORMAT).
    assert audit.content_hash(ROW) == hashlib.sha256(audit.canonical(ROW)).hexdigest()
    assert audit.content_hash(ROW) == "0de213e081fbc5e49702a3468d0b03b0413827f7d0d9272dde61b4df334d271e"


def test_a_whole_second_is_written_with_its_microseconds() -> None:
    row = {**ROW, "logged_at": datetime(2026, 6, 30, 12, 0)}
    assert b'"2026-06-30T12:00:00.000000"' in audit.canonical(row)


@pytest.mark.parametrize("field, value", [
    ("id", 1235), ("logged_at", datetime(2026, 6, 30, 12, 0, 5, 251)), ("actor", "rep"), ("action", "delete"),
    ("entity", "task"), ("entity_id", "18"), ("entity_id", None), ("before", '{"status":"new"}'),
    ("after", '{"status": "sql"}'), ("after", None), ("reason", "budget confirmed — cafe"), ("reason", None),
])
def test_the_content_hash_changes_with_each_field(field: str, value: object) -> None:
    assert audit.content_hash({**ROW, field: value}) != audit.content_hash(ROW)


def test_fields_cannot_trade_text_across_their_boundary() -> None:
    # Each field is its own JSON string: moving a character from one field to the next changes the content.
    a = {**ROW, "actor": "ad", "action": "minupdate"}
    b = {**ROW, "actor": "admin", "action": "update"}
    assert audit.content_hash(a) != audit.content_hash(b)


def test_the_link_hash_is_the_sha256_of_the_previous_hash_then_the_content_hash() -> None:
    assert audit.link_hash("ab", "cd") == hashlib.sha256(b"abcd").hexdigest()
    assert audit.link_hash("", "cd") == hashlib.sha256(b"cd").hexdigest()


def _sealed(rows: list[dict]) -> list[dict]:
    prev, out = "", []
    for seq, row in enumerate(rows, 1):
        content = audit.content_hash(row)
        out.append({**row, "seq": seq, "content_hash": content, "prev_hash": prev,
                    "hash": audit.link_hash(prev, content), "redacted_at": None})
        prev = out[-1]["hash"]
    return out


def _walk(rows: list[dict]) -> tuple[int, str] | None:
    prev = None
    for row in rows:
        found = audit._problem(row, prev)
        if found:
            return row["id"], found[0]
        prev = row
    return None


CHAIN = _sealed([{**ROW, "id": i, "entity_id": str(i)} for i in range(1, 6)])


def test_a_chain_sealed_in_order_has_no_problem() -> None:
    assert _walk(CHAIN) is None


def test_an_edited_record_is_named_as_changed() -> None:
    rows = [dict(r) for r in CHAIN]
    rows[2]["after"] = '{"status": "won"}'
    assert _walk(rows) == (3, "content changed")


def test_a_missing_record_is_named_at_the_record_after_it() -> None:
    assert _walk(CHAIN[:2] + CHAIN[3:]) == (4, "record deleted")


def test_a_record_whose_hashes_were_recomputed_breaks_the_next_link() -> None:
    rows = [dict(r) for r in CHAIN]
    rows[2]["after"] = '{"status": "won"}'
    rows[2]["content_hash"] = audit.content_hash(rows[2])
    rows[2]["hash"] = audit.link_hash(rows[2]["prev_hash"], rows[2]["content_hash"])
    assert _walk(rows) == (4, "link broken")


def test_a_record_with_only_its_content_hash_recomputed_is_named_by_its_own_hash() -> None:
    rows = [dict(r) for r in CHAIN]
    rows[2]["after"] = '{"status": "won"}'
    rows[2]["content_hash"] = audit.content_hash(rows[2])
    assert _walk(rows) == (3, "hash changed")


def test_renumbered_records_are_a_seq_gap() -> None:
    rows = [dict(r) for r in CHAIN]
    rows[4]["seq"] = 9
    assert _walk(rows) == (5, "seq gap")
    rows[4]["seq"] = 4
    assert _walk(rows) == (5, "seq gap")


def test_a_redacted_record_is_checked_by_its_stored_content_hash() -> None:
    rows = [dict(r) for r in CHAIN]
    rows[1]["after"] = '{"status": null}'
    rows[1]["redacted_at"] = datetime(2026, 7, 1)
    assert _walk(rows) is None


def test_an_update_lists_only_the_fields_that_differ() -> None:
    row = {"before": json.dumps({"status": "new", "owner_id": 3, "score": 10}),
           "after": json.dumps({"status": "mql", "owner_id": 3, "score": 12, "note": "x"})}
    assert audit.changes(row) == [{"field": "status", "before": "new", "after": "mql"},
                                  {"field": "score", "before": 10, "after": 12},
                                  {"field": "note", "before": None, "after": "x"}]


def test_a_create_lists_every_field_set_after_and_a_delete_every_field_set_before() -> None:
    assert audit.changes({"before": None, "after": '{"a": 1, "b": null, "c": false}'}) == [
        {"field": "a", "before": None, "after": 1}, {"field": "c", "before": None, "after": False}]
    assert audit.changes({"before": {"a": 1, "b": None}, "after": None}) == [{"field": "a", "before": 1,
                                                                             "after": None}]


def test_a_record_without_before_or_after_has_no_changes() -> None:
    assert audit.changes({"before": None, "after": None}) == []


def test_a_value_that_is_not_an_object_is_one_change_without_a_field() -> None:
    assert audit.changes({"before": "[1, 2]", "after": "[1, 3]"}) == [{"field": "", "before": [1, 2],
                                                                        "after": [1, 3]}]
    assert audit.changes({"before": None, "after": "not json"}) == [{"field": "", "before": None,
                                                                     "after": "not json"}]


def test_the_summary_reads_field_before_arrow_after() -> None:
    row = {"before": '{"status": "new", "tags": null}', "after": '{"status": "mql", "tags": ["a"], "dnc": true}'}
    assert audit.summary(row) == 'status: new → mql; tags: — → ["a"]; dnc: — → true'


def test_blanking_nulls_the_named_fields_at_any_depth_and_cuts_quoted_values() -> None:
    text = json.dumps({"email": "ana@x.io", "nested": {"phone": "555"}, "note": "call Ana@X.io today", "n": 2})
    out = json.loads(audit._blank_json(text, frozenset({"email", "phone"}), ["ana@x.io"]))
    assert out == {"email": None, "nested": {"phone": None}, "note": audit.REDACTED, "n": 2}


def test_blanking_leaves_a_record_without_those_fields_exactly_as_stored() -> None:
    text = '{"status":"new"}'  # not in the form audit.record writes: must not be rewritten
    assert audit._blank_json(text, frozenset({"email"}), []) is text
