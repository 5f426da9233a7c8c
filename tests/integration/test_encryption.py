"""Contact data at rest: the demo store, its backup and everything the product writes along the way (a lead
entered by hand, an import with a quarantined row, an email queued and its audit records, a sensitive note) hold no
demo contact's email or phone readable; exact-match lookups work through the blind index; key rotation re-seals
everything and the audit chain still verifies; an older store is sealed by its migration."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flashdash import audit, backup, crypto, demo, imports, leads, mail, mapping, pii, privacy, submissions, views
from flashdash.access import Actor, resolve_actor
from flashdash.activities import NewActivity, log_activity
from flashdash.filters import Filters
from flashdash.leads import LeadError, NewLead
from flashdash.store import Store, copy_file
from flashdash.timeline import timeline
from tests.conftest import NOW

ADMIN = Actor("admin", "Admin", "admin")
NEW_EMAIL, NEW_PHONE = "Rosa.Quintero@Quintero-Mercado.example", "+1 (415) 555-0199"
IMPORTED_EMAIL, QUARANTINED_EMAIL = "imported.person@shop-import.example", "held.back@shop-import.example"
SECRET_NOTE = "Owner's daughter is ill; call after the 15th"


def _open_all(store: Store, table: str, columns: str) -> pl.DataFrame:
    with store.read() as con:
        return crypto.open_frame(con.sql(f"SELECT {columns} FROM {table}").pl(), lambda: store.keyring)  # noqa: S608


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An XS demo store with its Phase 2 history, and the product used once in every way that stores contacts."""
    root = tmp_path_factory.mktemp("sealed")
    store = Store(root / "s.duckdb")
    demo.generate(store, "XS", seed=11, now=NOW)
    from flashdash import users

    users.create_demo_users(store, NOW)
    rep = resolve_actor(store, "rep")
    made = leads.create_lead(store, rep, NewLead("Quintero Mercado", contact_name="Rosa Quintero", email=NEW_EMAIL,
                                                 phone=NEW_PHONE, city=None), NOW)
    existing = _open_all(store, "leads", "id, email").filter(pl.col("email").is_not_null()).row(0, named=True)
    csv = root / "leads.csv"
    pl.DataFrame({"Lead ID": ["E1", "E2", "E3"], "Company": ["Imported Shop", "Known Again", "Held Back"],
                  "Email": [IMPORTED_EMAIL, existing["email"].upper(), QUARANTINED_EMAIL],
                  "Phone": ["415 555 0142", None, "415 555 0177"],
                  "Created": ["2026-06-01", "2026-06-01", "2026-02-30"]}).write_csv(csv)
    m = mapping.from_dict({"entity": "leads", "fields": {"external_id": "Lead ID", "merchant_name": "Company",
                                                         "email": "Email", "phone": "Phone", "submitted_at": "Created"},
                           "on_duplicate": "merge"})
    imported = imports.import_file(store, ADMIN, csv, m, NOW)
    log_activity(store, rep, NewActivity(made["id"], "call", NOW, 10, "connected", SECRET_NOTE,
                                         sensitive=True), NOW)
    with store.write() as con:
        mail.queue_email(store, con, "rep", made["id"], "Hello", "Hi {{ lead.first_name }}, at {{ lead.email }}", NOW)
    audit.seal(store, NOW)
    return {"store": store, "root": root, "made": made, "existing": existing, "imported": imported}


def _needles(store: Store) -> dict[str, list[str]]:
    """Every demo contact's email (lower-case) and phone (its digits), the ones the test added, and the note."""
    contacts = _open_all(store, "leads", "email, phone")
    emails = set(contacts["email"].drop_nulls().str.to_lowercase().to_list()) | {
        NEW_EMAIL.lower(), IMPORTED_EMAIL, QUARANTINED_EMAIL}
    phones = contacts["phone"].drop_nulls().to_list() + [NEW_PHONE, "415 555 0142", "415 555 0177"]
    digits = {re.sub(r"\D", "", p) for p in phones}
    return {"emails": sorted(emails), "phones": sorted(d for d in digits if len(d) >= 7),
            "phrases": [SECRET_NOTE.lower()]}


# Every email-like and phone-like run inside a text value, the phone reduced to its digits: one pass over a column
# finds any of the needles wherever it sits (a whole value, inside JSON, inside an email's body).
_FOUND = r"""
WITH v AS (SELECT lower(CAST(t."{column}" AS VARCHAR)) AS s FROM {relation} t WHERE t."{column}" IS NOT NULL),
runs AS (
    SELECT unnest(regexp_extract_all(s, '[a-z0-9._%+''-]+@[a-z0-9.-]+[a-z]')) AS x FROM v
    UNION ALL
    SELECT regexp_replace(unnest(regexp_extract_all(s, '[+(]?[0-9][0-9 ().-]{{5,}}[0-9]')), '[^0-9]', '', 'g') FROM v
)
SELECT (SELECT any_value(x) FROM runs WHERE x IN (SELECT n FROM _needles)),
       (SELECT any_value(s) FROM v WHERE len(list_filter(?::VARCHAR[], lambda p: contains(s, p))) > 0)
"""


def _readable(con: duckdb.DuckDBPyConnection, needles: dict[str, list[str]], relation: str,
              columns: list[str]) -> list[str]:
    """Columns of `relation` where some demo email or phone, or the sensitive note, is readable."""
    con.execute("CREATE OR REPLACE TEMP TABLE _needles AS SELECT unnest(?::VARCHAR[]) AS n",
                [needles["emails"] + needles["phones"]])
    found = []
    for column in columns:
        run, phrase = con.execute(_FOUND.format(column=column, relation=relation), [needles["phrases"]]).fetchone()
        if run is not None or phrase is not None:
            found.append(f"{column}: {run or phrase}")
    return found


def _text_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                      "AND data_type = 'VARCHAR'", [table]).fetchall()]


def test_the_store_holds_no_demo_contact_email_or_phone_readable_in_any_column(world: dict) -> None:
    store = world["store"]
    needles = _needles(store)
    assert len(needles["emails"]) > 1_900 and len(needles["phones"]) > 1_000  # the whole demo book, not a sample
    with store.read() as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]
        leaks = {t: found for t in tables if (found := _readable(con, needles, t, _text_columns(con, t)))}
    assert leaks == {}
    assert world["imported"].quarantined == 1  # the quarantined row, with its email, is among what was checked


def test_the_scan_finds_a_contact_left_readable_wherever_it_sits(world: dict) -> None:
    needles = _needles(world["store"])
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR, c VARCHAR, d VARCHAR)")
    con.execute("INSERT INTO t VALUES (?, 'ring +1 (415) 555-0199 today', ?, 'nothing here 2026-06-30')",
                [json.dumps({"to": NEW_EMAIL}), f"Notes: {SECRET_NOTE}"])
    assert _readable(con, needles, "t", ["a", "b", "c", "d"]) == [
        f"a: {NEW_EMAIL.lower()}", "b: 14155550199", f"c: notes: {SECRET_NOTE.lower()}"]


def test_the_store_file_and_a_backup_of_it_hold_no_demo_contact_email_or_phone(world: dict, tmp_path: Path) -> None:
    store = world["store"]
    result = backup.backup(store, tmp_path / "backup", NOW)
    needles = _needles(store)
    con = duckdb.connect()
    leaks = {}
    for part in sorted(result.directory.glob("*.parquet")):
        relation = f"read_parquet('{part}')"
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()  # noqa: S608
                   if r[1] == "VARCHAR"]
        if found := _readable(con, needles, relation, columns):
            leaks[part.name] = found
    assert leaks == {}
    raw = store.path.read_bytes().lower() + b"".join(p.read_bytes().lower() for p in result.directory.iterdir())
    in_bytes = {m.decode() for m in re.findall(rb"[a-z0-9._%+'-]+@[a-z0-9.-]+[a-z]", raw)}
    assert in_bytes & set(needles["emails"]) == set()
    assert not any(p.name.endswith(".keys") for p in result.directory.iterdir())  # the keys are not in the backup


def test_pages_and_exports_read_the_values_as_they_were_written(world: dict) -> None:
    store, made = world["store"], world["made"]
    rep = resolve_actor(store, "rep")
    lead = submissions.lead_detail(store, rep, made["id"])["lead"].row(0, named=True)
    assert (lead["email"], lead["phone"], lead["contact_name"]) == (NEW_EMAIL, NEW_PHONE, "Rosa Quintero")
    events = timeline(store, rep, made["id"], NOW)
    assert any(SECRET_NOTE in (d or "") for d in events["detail"].to_list())
    outbox = mail.outbox(store, rep)
    mine = outbox.filter(pl.col("lead_id") == made["id"]).row(0, named=True)
    assert mine["email"] == NEW_EMAIL
    found = privacy.find(store, ADMIN, email=NEW_EMAIL.lower())
    assert found["lead_ids"] == [made["id"]]
    assert found["tables"]["emails"]["body"][0] == f"Hi Rosa, at {NEW_EMAIL}"
    trail = audit.history(store, ADMIN, "lead", made["id"])
    assert NEW_EMAIL in trail["after"].to_list()
    quarantine = imports.quarantine(store, ADMIN, world["imported"].import_id)
    assert QUARANTINED_EMAIL in quarantine.row(0, named=True).values()


def test_duplicate_detection_and_search_by_email_work_through_the_blind_index(world: dict) -> None:
    store, existing = world["store"], world["existing"]
    assert world["imported"].updated + world["imported"].skipped == 1  # the known address, matched in upper case
    with pytest.raises(LeadError, match="already lead"):
        leads.create_lead(store, ADMIN, NewLead("Again", email=f"  {NEW_EMAIL.lower()} "), NOW)
    found = views.lead_list(store, ADMIN, views.LeadFilter(search=existing["email"].upper()), NOW)
    assert found["id"].to_list() == [existing["id"]]
    by_name = views.lead_list(store, ADMIN, views.LeadFilter(search="rosa quint"), NOW)
    assert world["made"]["id"] in by_name["id"].to_list()
    listing = submissions.listing(store, ADMIN, Filters(start=date(2020, 1, 1), end=NOW.date()), "channel", search=NEW_EMAIL)
    assert listing["rows"]["id"].to_list() == [world["made"]["id"]]


def test_rotation_reseals_every_value_and_the_audit_chain_still_verifies(world: dict, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = world["store"]
    copy = Store(tmp_path / "r.duckdb")
    shutil.copy(source.path, copy.path)
    generated = json.loads(crypto.keyring_path(source.path).read_text())
    new = f"k2:{crypto.new_key()}"
    monkeypatch.setenv(crypto.KEYS_ENV, f"{new},{generated['keys'][0]}")
    monkeypatch.setenv(crypto.INDEX_ENV, generated["index_key"])
    before = _open_all(copy, "leads", "id, contact_name, email, phone").sort("id")
    done = pii.rotate(copy, ADMIN, NOW)
    assert done["leads.email"] == before["email"].drop_nulls().len() and done["emails.to_address"] > 0
    monkeypatch.setenv(crypto.KEYS_ENV, new)  # the old key dropped: everything must open with the new one alone
    status = pii.key_status(copy)
    assert set(status["key_id"]) == {"k2"}
    assert _open_all(copy, "leads", "id, contact_name, email, phone").sort("id").equals(before)
    assert audit.verify(copy)["ok"]
    assert pii.rotate(copy, ADMIN, NOW) == {}  # nothing left under an older key


def test_an_older_store_is_sealed_by_its_migration_and_its_audit_chain_still_verifies(tmp_path: Path) -> None:
    store = Store(tmp_path / "old.duckdb")
    store.ensure_schema(NOW)
    with store.write() as con:
        con.execute("INSERT INTO leads (id, merchant_name, contact_name, email, phone, submitted_at, status) VALUES "
                    "(1, 'Old Shop', 'Ana Old', 'Ana.Old@Mail.example', '415-555-0100', ?, 'new')", [NOW])
        con.execute("INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, after) VALUES "
                    "(nextval('audit_log_id_seq'), ?, 'admin', 'create', 'lead', '1', ?)",
                    [NOW, json.dumps({"email": "Ana.Old@Mail.example", "merchant_name": "Old Shop"}, sort_keys=True)])
        con.execute("UPDATE leads SET email_bidx = NULL, email_domain = NULL")
        con.execute("DELETE FROM schema_migrations WHERE version >= 7")
    audit.seal(store, NOW)
    assert store.ensure_schema(NOW) == [7, 8]
    with store.read() as con:
        stored = con.execute("SELECT contact_name, email, phone, email_domain FROM leads").fetchone()
        trail = con.execute("SELECT after FROM audit_log").fetchone()[0]
    assert all(crypto.is_sealed(v) for v in stored[:3]) and stored[3] == "mail.example"
    assert "Ana.Old" not in trail and "enc1:" in trail
    assert audit.verify(store)["ok"]
    assert privacy.find(store, ADMIN, email="ana.old@mail.example")["lead_ids"] == [1]


def test_a_value_changed_in_the_store_is_refused_by_name_not_shown(world: dict, tmp_path: Path) -> None:
    copy = Store(tmp_path / "t.duckdb")
    copy_file(world["store"].path, copy.path)
    with copy.write() as con:
        token = con.execute("SELECT email FROM leads WHERE id = ?", [world["made"]["id"]]).fetchone()[0]
        forged = token[:-6] + ("AAAA" if not token[-6:-2] == "AAAA" else "BBBB") + token[-2:]
        con.execute("UPDATE leads SET email = ? WHERE id = ?", [forged, world["made"]["id"]])
    with pytest.raises(crypto.CryptoError, match="changed"):
        submissions.lead_detail(copy, ADMIN, world["made"]["id"])


def test_an_export_of_the_leads_writes_their_contacts_readable(world: dict, tmp_path: Path) -> None:
    from flashdash import exports

    path = tmp_path / "leads.csv"
    exports.export_entity(world["store"], ADMIN, "leads", path, now=NOW)
    written = pl.read_csv(path, infer_schema_length=0)
    mine = written.filter(pl.col("id") == str(world["made"]["id"])).row(0, named=True)
    assert (mine["email"], mine["phone"]) == (NEW_EMAIL, NEW_PHONE)
    assert not written["email"].drop_nulls().str.starts_with("enc1:").any()
