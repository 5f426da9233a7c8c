"""A lead's timeline: submission, stage changes, activities, emails with their opens, clicks and replies, and
tasks, in one chronological frame, for a lead in the actor's scope, with contact details blanked for readers."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from flashdash import audit, crypto, mail, qualification, tasks
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.activities import NewActivity, log_activity
from flashdash.store import Store
from flashdash.timeline import MASK, timeline
from tests.conftest import NOW


@pytest.fixture
def story(demo_copy: Store) -> tuple[Store, dict]:
    """One of the rep's open leads that got an activity from a template (and its follow-up task), an email
    that was sent, opened, clicked and answered, a task that was done, one that was delegated, and a stage move."""
    store, rep = demo_copy, resolve_actor(demo_copy, "rep")
    with store.read() as con:
        cur = con.execute("SELECT id, submitted_at, contact_name, email, phone FROM leads WHERE owner_id = ? AND "
                          "status = 'mql' ORDER BY submitted_at LIMIT 1", [rep.rep_id])
        lead = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    lead = {k: crypto.open_text(store.keyring, v) if crypto.is_sealed(v) else v for k, v in lead.items()}
    t = NOW - timedelta(days=3)
    log_activity(store, rep, NewActivity(lead["id"], "call", t, 30, "connected", "Fees too high", "Send pricing",
                                         template_id=-1, fields_typed=1), NOW)
    with store.write() as con:
        email_id = mail.queue_email(store, con, "rep", lead["id"], "Pricing for {{ lead.first_name }}",
                                    "Hi {{ lead.first_name }}, here it is: https://flash.example/pricing",
                                    t + timedelta(hours=1))
        con.execute("UPDATE emails SET status = 'sent', sent_at = ?, attempts = 1 WHERE id = ?",
                    [t + timedelta(hours=1, minutes=1), email_id])
        for kind, minutes, url in (("open", 90, None), ("click", 95, "https://flash.example/pricing"),
                                   ("reply", 200, None)):
            con.execute("INSERT INTO email_events (id, email_id, kind, occurred_at, url) "
                        "VALUES (nextval('email_events_id_seq'), ?, ?, ?, ?)",
                        [email_id, kind, t + timedelta(minutes=minutes), url])
        done = tasks.create_task(store, con, lead["id"], rep.rep_id, "Check the contract", t + timedelta(days=1),
                                 "rep", t + timedelta(hours=2))
        con.execute("UPDATE tasks SET status = 'done', done_at = ? WHERE id = ?", [t + timedelta(days=1), done])
        handed = tasks.create_task(store, con, lead["id"], 3, "Visit the store", NOW - timedelta(hours=1), "rep",
                                   t + timedelta(hours=3))
        con.execute("UPDATE tasks SET delegated_from = ? WHERE id = ?", [rep.rep_id, handed])
        audit.record(con, "rep", "delegate", "task", handed, t + timedelta(hours=4), reason="on holiday")
    qualification.change_stage(store, rep, [lead["id"]], "disqualified", "no budget this year", NOW)
    return store, lead


def test_everything_that_happened_to_a_lead_comes_in_order(story: tuple[Store, dict]) -> None:
    store, lead = story
    frame = timeline(store, resolve_actor(store, "rep"), lead["id"], NOW)
    assert frame.columns == ["at", "kind", "title", "detail", "who"]
    assert frame["at"].is_sorted()
    assert frame.row(0, named=True)["kind"] == "submission" and frame["at"][0] == lead["submitted_at"]
    assert frame.row(1, named=True)["title"] == "Entered New"  # the same moment: the submission comes first
    pricing = "Pricing for " + lead["contact_name"].split()[0]
    assert frame.filter(pl.col("at") > NOW - timedelta(days=3))["title"].to_list() == [
        f"Email sent: {pricing}",
        f"Opened the email: {pricing}",
        f"Clicked a link in the email: {pricing}",
        "Task created: Check the contract",
        "Task created: Visit the store",
        f"Replied to the email: {pricing}",
        "Task delegated: Visit the store",
        "Task done: Check the contract",
        "Task overdue: Visit the store",
        "MQL → Disqualified",  # at the same moment as the next: a stage change comes before a task
        "Task created: Send pricing",
        "Task due: Send pricing",  # the follow-up of a call logged late is due now, not in the past
    ]
    call = frame.filter(pl.col("title") == "Call: connected").tail(1).row(0, named=True)
    assert call["detail"] == "30 min; notes: Fees too high; next step: Send pricing; template Discovery call"
    assert frame.filter(pl.col("title") == "MQL → Disqualified").row(0, named=True)["detail"] == "no budget this year"
    delegated = frame.filter(pl.col("title") == "Task created: Visit the store")["detail"][0]
    assert "delegated from Hiroshi Miller" in delegated
    assert frame.filter(pl.col("title").str.starts_with("Clicked"))["detail"][0] == "https://flash.example/pricing"


def test_a_lead_outside_the_actors_book_is_refused_and_a_manager_sees_the_teams(story: tuple[Store, dict]) -> None:
    store, lead = story
    with pytest.raises(AccessDenied, match=f"no lead {lead['id']} in your book"):
        timeline(store, Actor("susan", "Susan", "rep", rep_id=6, scope_reps=(6,)), lead["id"], NOW)
    assert timeline(store, resolve_actor(store, "manager"), lead["id"], NOW).height > 10


def test_readers_see_the_timeline_with_the_contact_details_blanked(story: tuple[Store, dict]) -> None:
    store, lead = story
    admin_view = timeline(store, Actor("admin", "Ada", "admin"), lead["id"], NOW)
    text = " ".join(admin_view.select(pl.concat_str("title", "detail", "who", separator=" ", ignore_nulls=True))
                    .to_series().to_list())
    first = lead["contact_name"].split()[0]
    assert lead["email"] in text and first in text
    for role in ("analyst", "executive"):
        view = timeline(store, Actor(role, role, role), lead["id"], NOW)
        assert view.height == admin_view.height
        text = " ".join(view.select(pl.concat_str("title", "detail", "who", separator=" ", ignore_nulls=True))
                        .to_series().to_list())
        for secret in (lead["email"], lead["phone"], lead["contact_name"], first):
            assert secret not in text
        assert f"Email sent: Pricing for {MASK}" in view["title"].to_list()
