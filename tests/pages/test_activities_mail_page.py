"""The Activities page's Sequences and Email tabs as each role: a manager builds, adopts and runs sequences
(enrollments previewed, confirmed, paused and resumed); a rep previews templates against real leads, sees every
token a lead cannot fill, and cannot email a do-not-contact lead; an analyst reads rates only."""

from __future__ import annotations

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from flashdash import crypto, mail
from flashdash.access import resolve_actor
from flashdash.store import Store
from flashdash.ui import email_panel, sequences_panel
from tests import stored
from tests.conftest import NOW
from tests.pages.apptest import open_page, switch_tab, texts

NEW_STEPS = "act.seq.edit.-1.steps"
SAVE_NEW = "FormSubmitter:act.seq.edit.-1-Save sequence"


def _scalar(store: Store, sql: str, *params: object) -> object:
    return stored.rows(store, sql, list(params))[0][0]


def _successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def _frame(at: AppTest, column: str) -> object:
    """The first table on the page with this column (tables are told apart by what they show)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_a_manager_builds_a_sequence_in_the_editor_and_a_step_out_of_order_is_refused(live_store: Store) -> None:
    at = open_page("activities", "manager", tab="Sequences")
    assert "There are no sequences yet" in texts(at)
    at.text_input(key="act.seq.edit.-1.name").input("Webinar follow-up")
    at.session_state[NEW_STEPS] = {"edited_rows": {0: {"day_offset": 3}}, "deleted_rows": [],
                                   "added_rows": [{"kind": "task", "day_offset": 1, "title": "Send the deck"}]}
    at.button(key=SAVE_NEW).click().run()
    assert any("step 2 is on day 1, before step 1's day 3" in e.value for e in at.error), [e.value for e in at.error]
    assert _scalar(live_store, "SELECT count(*) FROM sequences") == 0
    at.session_state[NEW_STEPS] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [
        {"kind": "task", "day_offset": 2, "title": "Send the deck"},
        {"kind": "call", "day_offset": 5, "title": "Check in"}]}
    at.button(key=SAVE_NEW).click().run()
    assert not at.exception, at.exception
    assert "Saved the sequence “Webinar follow-up” with 3 steps." in _successes(at)
    assert "Webinar follow-up" in list(_frame(at, "pauses on")["name"])
    assert "1. :material/call: **day 0** · call · Intro call\n2. :material/task_alt: **day 2** · task · Send the deck\n" \
        "3. :material/call: **day 5** · call · Check in" in texts(at)
    assert _scalar(live_store, "SELECT list(day_offset ORDER BY position) FROM sequence_steps") == [0, 2, 5]


def test_a_manager_adopts_a_starter_enrolls_leads_after_a_preview_then_pauses_and_resumes_one(
        live_store: Store) -> None:
    at = open_page("activities", "manager", tab="Sequences")
    if [b for b in at.button if b.key == "act.seq.starter.templates"]:  # a store without the built-in templates
        at.button(key="act.seq.starter.templates").click().run()
        assert any(s.startswith("Added 4 email templates") for s in _successes(at)), _successes(at)
    at.button(key="act.seq.starter.0.adopt").click().run()
    assert any("Adopted the starter “New inbound lead”" in s for s in _successes(at)), _successes(at)
    assert "day 1** · email · Intro email · template *Intro*" in texts(at)

    at.radio(key="act.seq.enroll.mode").set_value("Several of my open leads").run()
    options = at.multiselect(key="act.seq.enroll.leads").options
    picked = [int(o.split(" · lead ")[1].split(" · ")[0]) for o in options[:3]]
    with live_store.write() as con:  # one of them asks not to be contacted: the preview refuses it
        con.execute("UPDATE leads SET do_not_contact = true WHERE id = ?", [picked[2]])
    at.multiselect(key="act.seq.enroll.leads").set_value(picked).run()
    at.button(key="act.seq.enroll.preview").click().run()
    (preview,) = [i.value for i in at.info if i.value.startswith("This enrolls")]
    assert preview.startswith("This enrolls 2 leads in 'New inbound lead'")
    assert "1 refused (the lead asked not to be contacted: 1)" in preview
    assert _scalar(live_store, "SELECT count(*) FROM sequence_enrollments") == 0  # nothing until confirmed
    at.button(key="act.seq.enroll.confirm").click().run()
    assert any(s.startswith("Enrolled 2 leads") for s in _successes(at)), _successes(at)
    enrolled = _frame(at, "enrolled by")
    assert sorted(enrolled["lead_id"]) == sorted(picked[:2]) and set(enrolled["status"]) == {"active"}

    first = _scalar(live_store, "SELECT min(id) FROM sequence_enrollments")
    at.multiselect(key="act.seq.change.ids").select(first)
    at.selectbox(key="act.seq.change.action").select("pause")
    at.button(key="FormSubmitter:act.seq.change-Apply").click().run()
    assert any("Give a reason to pause" in e.value for e in at.error)
    at.text_input(key="act.seq.change.reason").input("on holiday until August")
    at.button(key="FormSubmitter:act.seq.change-Apply").click().run()
    assert "Paused 1 enrollment." in _successes(at)
    assert _scalar(live_store, "SELECT list(status_reason) FROM sequence_enrollments WHERE status = 'paused'") == [
        "paused by manager: on holiday until August"]
    assert [o for o in at.multiselect(key="act.seq.change.ids").options if o.endswith("· paused")]
    at.multiselect(key="act.seq.change.ids").set_value([first])
    at.selectbox(key="act.seq.change.action").select("resume")
    at.button(key="FormSubmitter:act.seq.change-Apply").click().run()
    assert "Resumed 1 enrollment." in _successes(at)
    assert _scalar(live_store, "SELECT count(*) FILTER (WHERE status = 'active') FROM sequence_enrollments") == 2


def _rep_leads(store: Store) -> dict[str, int]:
    """A lead of the rep's with a campaign, one without, and one to mark do-not-contact (all with a contact)."""
    scope = list(resolve_actor(store, "rep").scope_reps)
    with store.read() as con:
        rows = con.execute("SELECT id, campaign FROM leads WHERE list_contains(?, owner_id) AND contact_name IS NOT "
                           "NULL AND email IS NOT NULL AND status IN ('new', 'mql', 'sql') ORDER BY id",
                           [scope]).fetchall()
    with_campaign = [i for i, campaign in rows if campaign]
    without = [i for i, campaign in rows if not campaign]
    return {"good": with_campaign[0], "no_campaign": without[0], "dnc": with_campaign[1]}


def _template(store: Store, name: str) -> str:
    """The Email tab's key for the template of this name the rep sees (stored, or built in)."""
    rows = mail.templates(store, resolve_actor(store, "rep")).filter(pl.col("name") == name)
    return email_panel.template_key(rows.row(0, named=True))


def _pick_lead(at: AppTest, lead_id: int) -> None:
    box = at.selectbox(key="act.mail.lead")
    assert any(f" · lead {lead_id} · " in o for o in box.options)
    box.select(lead_id).run()


def _preview(at: AppTest) -> str:
    """The preview as the user reads it (the markdown escapes taken out)."""
    box = at.container(key="act.mail.preview")
    return "\n".join([m.value.replace("\\", "") for m in box.markdown] + [c.value for c in box.code])


def test_a_rep_previews_templates_against_their_leads_and_cannot_email_a_do_not_contact_lead(
        live_store: Store) -> None:
    leads = _rep_leads(live_store)
    manager = resolve_actor(live_store, "manager")
    campaign_id = mail.save_template(live_store, manager, None, "Campaign note", "About {{ lead.campaign }}",
                                     "Hi {{ lead.first_name }}, thanks for answering {{ lead.campaign }}.", 1, True,
                                     NOW)
    with live_store.write() as con:
        con.execute("UPDATE leads SET do_not_contact = true WHERE id = ?", [leads["dnc"]])
        merchant, sealed = con.execute("SELECT merchant_name, contact_name FROM leads WHERE id = ?",
                                       [leads["good"]]).fetchone()
    contact = crypto.open_(live_store.keyring, sealed)
    intro = _template(live_store, "Intro")
    before = _scalar(live_store, "SELECT count(*) FROM emails")
    at = open_page("activities", "rep", tab="Email")
    at.selectbox(key="act.mail.pick").select(intro).run()
    _pick_lead(at, leads["good"])
    shown = _preview(at)
    assert f"Hi {contact.split()[0]}," in shown and "{{" not in shown
    assert not any("cannot be filled" in w.value for w in at.warning)

    at.selectbox(key="act.mail.pick").select(f"id:{campaign_id}").run()
    _pick_lead(at, leads["no_campaign"])
    (flag,) = [w.value for w in at.warning if "cannot be filled" in w.value]
    assert flag.startswith("This lead has no campaign: `{{ lead.campaign }}` cannot be filled")
    assert "will not be sent to it" in flag and "[lead.campaign]" in _preview(at)

    at.selectbox(key="act.mail.pick").select(intro).run()
    _pick_lead(at, leads["dnc"])
    assert any("This lead gets no email: the lead asked not to be contacted" in w.value for w in at.warning)
    at.button(key="act.mail.send").click().run()
    assert any("Not sent: the lead asked not to be contacted." in e.value for e in at.error)
    assert _scalar(live_store, "SELECT count(*) FROM emails") == before

    _pick_lead(at, leads["good"])
    at.button(key="act.mail.send").click().run()
    assert any(s.startswith("Queued email") and "stays queued until SMTP is configured" in s
               for s in _successes(at)), _successes(at)
    newest = _frame(at, "why / next").iloc[0]
    assert (newest["lead"], newest["status"], newest["why / next"]) == (merchant, "queued", "Waiting to be sent.")
    assert newest["subject"] == f"{merchant} and Flash: card payments that pay out next day"
    assert _scalar(live_store, "SELECT count(*) FROM emails WHERE status = 'queued' AND lead_id = ?",
                   leads["good"]) == 1


def _keys(at: AppTest) -> set[str]:
    return {w.key for w in (*at.button, *at.text_input, *at.text_area, *at.selectbox, *at.multiselect)}


def test_an_analyst_reads_rates_but_gets_no_editor_and_no_send(live_store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rep = resolve_actor(live_store, "rep")
    lead_id = _rep_leads(live_store)["good"]
    email_id = mail.send_now(live_store, rep, lead_id, ("Hello {{ lead.merchant_name }}", "Hi."), NOW)
    with live_store.write() as con:  # as the scheduler and the tracking service would record it
        con.execute("UPDATE emails SET status = 'sent', sent_at = ? WHERE id = ?", [NOW, email_id])
        con.execute("INSERT INTO email_events (id, email_id, kind, occurred_at) "
                    "VALUES (nextval('email_events_id_seq'), ?, 'open', ?)", [email_id, NOW])
    monkeypatch.delenv("FLASHDASH_SMTP_HOST", raising=False)
    at = open_page("activities", "analyst", tab="Email")
    assert not at.exception, at.exception
    assert mail.NOT_CONFIGURED in [i.value for i in at.info]
    rates = _frame(at, "open_rate").set_index("template")
    assert rates.loc["written by hand", "sent"] >= 1 and rates.loc["written by hand", "open_rate"] > 0
    assert "the open rate is a lower bound" in texts(at)
    assert not [d for d in at.dataframe if "why / next" in d.value.columns]
    keys = _keys(at) | _keys(switch_tab(at, "activities", "Sequences"))
    assert not {k for k in keys if k and (k.startswith("act.mail.edit") or k.startswith("act.seq.edit"))}
    assert "act.mail.send" not in keys and "act.seq.enroll.preview" not in keys

    monkeypatch.setenv("FLASHDASH_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("FLASHDASH_SMTP_USER", "sales@example.com")
    monkeypatch.setenv("FLASHDASH_SMTP_PASSWORD", "hunter2-secret")
    at = open_page("activities", "analyst", tab="Email")
    status = [c.value for c in at.caption if "Sending through" in c.value]
    assert status and "smtp.example.com:587 (STARTTLS) as sales@example.com" in status[0]
    assert mail.NOT_CONFIGURED not in [i.value for i in at.info] and "hunter2-secret" not in texts(at)


def test_the_missing_token_warning_names_what_the_lead_lacks() -> None:
    text = email_panel.missing_message(["lead.first_name", "rep.email"])
    assert text == ("This lead has no contact name: `{{ lead.first_name }}` cannot be filled; the sending rep has "
                    "no email address: `{{ rep.email }}` cannot be filled. The email will not be sent to it until "
                    "the lead or the template is fixed.")


def test_the_editor_rows_become_steps_in_row_order_with_templates_by_name() -> None:
    choices = {"Intro (store-wide)": 7}
    edited = pl.DataFrame([{"kind": "call", "day_offset": 0, "title": "Intro call", "template": None, "id": 3},
                           {"kind": None, "day_offset": None, "title": "", "template": None, "id": None},
                           {"kind": "email", "day_offset": 2, "title": None, "template": "Intro (store-wide)",
                            "id": None}], schema=sequences_panel.STEP_SCHEMA)
    assert sequences_panel.step_defs(edited, choices) == [
        {"kind": "call", "day_offset": 0, "title": "Intro call", "template_id": None, "id": 3},
        {"kind": "email", "day_offset": 2, "title": None, "template_id": 7, "id": None}]
    assert sequences_panel.editor_rows(None, choices).row(0, named=True)["kind"] == "call"
