"""Privacy requests on a real store: a person's data found and exported, erased everywhere (the audit trail
still verifies), a do-not-contact flag honoured, and the retention policy as a job."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest

from flashdash import audit, mail, privacy, qualification
from flashdash.access import AccessDenied, resolve_actor
from flashdash.activities import NewActivity, log_activity
from flashdash.store import Store
from jobs import scheduler
from tests import stored
from tests.conftest import NOW


@pytest.fixture
def store(demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    for name in mail.SMTP_ENV.values():
        monkeypatch.delenv(name, raising=False)
    return demo_copy


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


def _person(store: Store) -> dict:
    """An open lead of the demo rep with a contact, an email and a phone, worked a little: an activity with a
    note, a stage change, a queued email."""
    rep = resolve_actor(store, "rep")
    lead_id, email, name, phone = _rows(
        store, "SELECT id, email, contact_name, phone FROM leads WHERE owner_id = ? AND status = 'new' AND email "
               "IS NOT NULL AND contact_name IS NOT NULL AND phone IS NOT NULL ORDER BY id LIMIT 1", [rep.rep_id])[0]
    log_activity(store, rep, NewActivity(lead_id, "call", NOW - timedelta(hours=1), 10, "connected",
                                         f"Spoke to {name}; call back on {phone}"), NOW)
    qualification.change_stage(store, resolve_actor(store, "manager"), [lead_id], "mql", "interested", NOW)
    mail.send_now(store, rep, lead_id, ("Hello {{ lead.first_name }}", "Hi {{ lead.first_name }}"), NOW)
    audit.seal(store, NOW)
    return {"lead_id": lead_id, "email": email, "name": name, "phone": phone}


def test_only_an_admin_runs_privacy_requests(store: Store) -> None:
    for role in ("rep", "manager", "analyst", "executive"):
        with pytest.raises(AccessDenied):
            privacy.find(store, resolve_actor(store, role), email="someone@example.com")


def test_a_person_is_found_by_email_in_any_case_and_exported_whole(store: Store) -> None:
    person = _person(store)
    admin = resolve_actor(store, "admin")
    done = privacy.export(store, admin, NOW, email=f"  {person['email'].upper()} ")
    assert person["lead_id"] in done["lead_ids"]  # and any other submission with the same address
    assert _rows(store, "SELECT DISTINCT lower(fd_open(email)) FROM leads WHERE list_contains(?, id)",
                 [done["lead_ids"]]) == [(person["email"].lower(),)]
    counts = done["counts"]
    assert counts["leads"] == len(done["lead_ids"]) and counts["activities"] >= 1 and counts["emails"] == 1
    assert counts["lead_stage_changes"] >= 1 and counts["audit_log"] >= 3
    doc = json.loads(done["files"]["json"])
    assert doc["tables"]["leads"][0]["email"] == person["email"]
    with zipfile.ZipFile(io.BytesIO(done["files"]["zip"])) as archive:
        assert {f"{t}.csv" for t in privacy.TABLES} <= set(archive.namelist())
        assert person["email"] in archive.read("leads.csv").decode()
    [(after,)] = _rows(store, "SELECT after FROM audit_log WHERE action = 'export' AND entity = 'privacy'")
    assert person["email"] not in after and str(person["lead_id"]) in after


def test_an_unknown_email_finds_nothing_and_an_unknown_id_is_named(store: Store) -> None:
    admin = resolve_actor(store, "admin")
    assert privacy.find(store, admin, email="nobody@nowhere.example")["lead_ids"] == []
    with pytest.raises(privacy.PrivacyError, match="no lead 999999"):
        privacy.find(store, admin, lead_ids=[999999])
    with pytest.raises(privacy.PrivacyError, match="email address"):
        privacy.find(store, admin)


def test_an_erasure_leaves_no_trace_of_the_person_keeps_the_counts_and_the_chain(store: Store) -> None:
    person = _person(store)
    admin = resolve_actor(store, "admin")
    before = _rows(store, "SELECT count(*), count(DISTINCT status) FROM leads")
    with pytest.raises(privacy.PrivacyError, match="reason"):
        privacy.erase(store, admin, NOW, " ", email=person["email"])
    done = privacy.erase(store, admin, NOW, "erasure request by email", email=person["email"])
    assert person["lead_id"] in done["lead_ids"]
    assert _rows(store, "SELECT count(*), count(DISTINCT status) FROM leads") == before  # aggregates stay
    assert _rows(store, "SELECT contact_name, email, phone, do_not_contact FROM leads WHERE id = ?",
                 [person["lead_id"]]) == [(None, None, None, True)]
    for value in (person["email"], person["name"], person["phone"]):
        for table, column in (("activities", "notes"), ("emails", "to_address"), ("emails", "body"),
                              ("audit_log", "before"), ("audit_log", "after"), ("tasks", "notes")):
            hits = _rows(store, f"SELECT count(*) FROM {table} WHERE lower({column}) LIKE ?",  # noqa: S608
                         [f"%{value.lower()}%"])
            assert hits == [(0,)], f"{value!r} is still in {table}.{column}"
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE action = 'erase' AND list_contains(?, entity_id)",
                 [[str(i) for i in done["lead_ids"]]]) == [(len(done["lead_ids"]),)]
    audit.seal(store, NOW)
    assert audit.verify(store)["ok"], "redacted records keep their content hash: the chain verifies"


def test_do_not_contact_is_set_in_scope_with_a_reason_and_suppresses_email(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    person = _person(store)
    with pytest.raises(privacy.PrivacyError, match="reason"):
        privacy.set_do_not_contact(store, rep, person["lead_id"], True, "", NOW)
    assert privacy.set_do_not_contact(store, rep, person["lead_id"], True, "asked on the call", NOW) is True
    assert privacy.set_do_not_contact(store, rep, person["lead_id"], True, "again", NOW) is False
    other = _rows(store, "SELECT id FROM leads WHERE owner_id <> ? ORDER BY id LIMIT 1", [rep.rep_id])[0][0]
    with pytest.raises(AccessDenied):
        privacy.set_do_not_contact(store, rep, other, True, "not mine", NOW)
    with pytest.raises(mail.MailError):
        mail.send_now(store, rep, person["lead_id"], ("Hi", "Hi"), NOW)


def test_the_retention_policy_is_validated_previewed_and_applied_by_its_job(store: Store) -> None:
    admin = resolve_actor(store, "admin")
    with pytest.raises(privacy.PrivacyError, match="between 6 and 120"):
        privacy.save_policy(store, admin, 2, "anonymize", NOW)
    assert scheduler.run_job("apply_retention", store, NOW)  # no policy: nothing happens
    assert _rows(store, "SELECT rows_written FROM job_runs WHERE job = 'apply_retention'") == [(0,)]
    expected = privacy.preview_retention(store, admin, NOW, 12, "anonymize")
    assert expected > 0
    privacy.save_policy(store, admin, 12, "anonymize", NOW)
    assert scheduler.run_job("apply_retention", store, NOW)
    [(left,)] = _rows(store, "SELECT count(*) FROM leads WHERE status IN ('lost', 'disqualified') "
                             "AND email IS NOT NULL AND status_changed_at < ?", [NOW - timedelta(days=500)])
    assert left == 0
    assert privacy.preview_retention(store, admin, NOW, 12, "anonymize") == max(0, expected - privacy.RETENTION_BATCH)


def test_a_purge_deletes_every_row_about_old_closed_leads_and_nothing_else(store: Store) -> None:
    admin = resolve_actor(store, "admin")
    victims = privacy.retention_candidates(store, NOW, 18, "purge")
    assert victims
    kept = _rows(store, "SELECT count(*) FROM leads")[0][0] - len(victims)
    privacy.save_policy(store, admin, 18, "purge", NOW)
    assert privacy.apply_retention(store, NOW) == len(victims)
    assert _rows(store, "SELECT count(*) FROM leads")[0][0] == kept
    for table in ("activities", "lead_stage_changes", "tasks", "emails", "lead_scores", "opportunities"):
        assert _rows(store, f"SELECT count(*) FROM {table} WHERE list_contains(?, lead_id)",  # noqa: S608
                     [victims]) == [(0,)], table
