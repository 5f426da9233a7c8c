"""Admin → Privacy as an admin: a person is found by email, exported and, after a confirmation, erased; the
retention policy is validated, previewed and saved. And the lead page's do-not-contact switch as a rep."""

from __future__ import annotations

from flashdash.access import resolve_actor
from flashdash.store import Store
from tests import stored
from tests.pages.apptest import open_page, texts

KEY = "admin.privacy"


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


def _email(store: Store) -> str:
    return _rows(store, "SELECT email FROM leads WHERE email IS NOT NULL ORDER BY id LIMIT 1")[0][0]


def test_an_admin_finds_exports_and_erases_a_person_only_after_confirming(live_store: Store) -> None:
    email = _email(live_store)
    at = open_page("admin", "admin")
    at.text_input(key=f"{KEY}.email").input(email.upper())
    at.button(key=f"{KEY}.find").click().run()
    assert not at.exception, at.exception
    counts = next(df.value for df in at.dataframe if "records" in df.value.columns)
    assert "leads" in set(counts["table"])
    at.button(key=f"{KEY}.export").click().run()
    assert {b.key for b in at.get("download_button")} >= {f"{KEY}.json", f"{KEY}.zip"}

    at.text_input(key=f"{KEY}.reason").input("erasure request by email")
    at.button(key=f"FormSubmitter:{KEY}.erase_form-Erase this person").click().run()
    assert any("Tick the box" in e.value for e in at.error)
    assert _rows(live_store, "SELECT count(*) FROM leads WHERE lower(fd_open(email)) = lower(?)", [email]) != [(0,)]
    at.checkbox(key=f"{KEY}.sure").check()
    at.button(key=f"FormSubmitter:{KEY}.erase_form-Erase this person").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Erased leads") for s in at.success)
    assert _rows(live_store, "SELECT count(*) FROM leads WHERE lower(fd_open(email)) = lower(?)", [email]) == [(0,)]


def test_the_retention_policy_refuses_too_short_a_period_then_previews_and_saves(live_store: Store) -> None:
    at = open_page("admin", "admin")
    at.number_input(key=f"{KEY}.months").set_value(3)
    at.button(key=f"FormSubmitter:{KEY}.retention_form-Save the policy").click().run()
    assert any("between 6 and 120 months" in e.value for e in at.error)
    at.number_input(key=f"{KEY}.months").set_value(24)
    at.button(key=f"FormSubmitter:{KEY}.retention_form-Preview").click().run()
    assert any("The policy would anonymize" in i.value for i in at.info)
    at.button(key=f"FormSubmitter:{KEY}.retention_form-Save the policy").click().run()
    assert any("untouched for 24 months" in s.value for s in at.success)
    assert _rows(live_store, "SELECT value FROM settings WHERE key = 'retention_months'") == [("24",)]


def test_a_rep_marks_their_lead_do_not_contact_with_a_reason(live_store: Store) -> None:
    rep = resolve_actor(live_store, "rep")
    lead_id = _rows(live_store, "SELECT id FROM leads WHERE owner_id = ? ORDER BY id LIMIT 1", [rep.rep_id])[0][0]
    at = open_page("leads", "rep")
    at.text_input(key="leads.detail.ref").input(str(lead_id)).run()
    at.toggle(key=f"leads.detail.dnc.{lead_id}").set_value(True)
    at.button(key="FormSubmitter:leads.detail.contact_form-Save").click().run()
    assert any("Give a reason" in e.value for e in at.error)
    at.text_input(key="leads.detail.dnc_reason").input("asked not to be emailed")
    at.button(key="FormSubmitter:leads.detail.contact_form-Save").click().run()
    assert any("Marked do not contact" in s.value for s in at.success), texts(at)
    assert _rows(live_store, "SELECT do_not_contact FROM leads WHERE id = ?", [lead_id]) == [(True,)]
    at.run()  # the lead's history shows the change, with its reason
    history = next(f.value for f in at.dataframe if "reason" in f.value.columns and "field" in f.value.columns)
    assert "asked not to be emailed" in set(history["reason"]) and "do_not_contact" in set(history["field"])
