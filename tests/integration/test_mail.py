"""Email on a real store and a real SMTP server on loopback (aiosmtpd): the template library, sending by hand,
the queue with its retries, do-not-contact, never sending twice (even across a crash), rates and the outbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from flashdash import crypto, mail, tracking
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW, ROOT

SECRET = "integration-test-tracking-secret"
BASE = "http://track.flash.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (and can refuse with a given reply)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        if self.refuse:
            return self.refuse
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default_policy)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(port: int) -> mail.SmtpSettings:
    return mail.SmtpSettings(host="127.0.0.1", port=port, tls="none", from_address="sales@flash.example",
                             from_name="Flash Sales", timeout=5.0)


@pytest.fixture
def smtp() -> Iterator[tuple[mail.SmtpSettings, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield _settings(controller.port), inbox
    finally:
        controller.stop()


@pytest.fixture
def store(demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("FLASHDASH_TRACKING_SECRET", SECRET)
    monkeypatch.setenv("FLASHDASH_TRACKING_URL", BASE)
    for name in mail.SMTP_ENV.values():  # a developer's own SMTP settings must not leak into the tests
        monkeypatch.delenv(name, raising=False)
    return demo_copy


def _rep_leads(store: Store, rep: Actor, n: int = 3) -> list[int]:
    with store.read() as con:
        rows = con.execute("SELECT id FROM leads WHERE owner_id = ? AND email IS NOT NULL AND contact_name IS NOT NULL "
                           "ORDER BY id LIMIT ?", [rep.rep_id, n]).fetchall()
    return [r[0] for r in rows]


def _other_lead(store: Store, rep: Actor) -> int:
    with store.read() as con:
        return con.execute("SELECT min(id) FROM leads WHERE owner_id <> ?", [rep.rep_id]).fetchone()[0]


def _emails(store: Store) -> list[dict]:
    return mail.outbox(store, Actor("admin", "Admin", "admin"), limit=1000).sort("id").to_dicts()


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params, write=True)


INTRO = ("Hello {{ lead.first_name }}", "Dear {{ lead.first_name }},\n\nSee https://flashpay.example/pricing.\n\n"
         "{{ rep.name }}")


# ---------------------------------------------------------------- the template library


def test_the_starter_library_is_shown_until_stored_and_then_usable_by_id(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    shown = mail.templates(store, rep)
    assert shown["name"].to_list() == [n for n, _, _ in mail.STARTERS] and shown["id"].is_null().all()
    assert mail.install_starters(store, NOW) == len(mail.STARTERS)
    assert mail.install_starters(store, NOW) == 0
    stored = mail.templates(store, rep)
    assert set(stored["source"]) == {"store"} and stored["id"].is_not_null().all()
    lead = _rep_leads(store, rep, 1)[0]
    email_id = mail.send_now(store, rep, lead, int(stored.filter(stored["name"] == "Intro")["id"][0]), NOW)
    assert _emails(store)[0]["id"] == email_id and _emails(store)[0]["template"] == "Intro"


def test_a_manager_saves_templates_for_their_team_and_reps_see_their_teams_and_the_stores(store: Store) -> None:
    manager, rep, admin = (resolve_actor(store, u) for u in ("manager", "rep", "admin"))
    ours = mail.save_template(store, manager, None, " Check-in ", "Hi {{ lead.first_name }}", "Body", 1, True, NOW)
    theirs = mail.save_template(store, admin, None, "East only", "Hi", "Body", 2, True, NOW)
    everyone = mail.save_template(store, admin, None, "Everyone", "Hi", "Body", None, True, NOW)
    assert set(mail.templates(store, rep)["id"]) == {ours, everyone}
    assert set(mail.templates(store, admin)["id"]) == {ours, theirs, everyone}
    with pytest.raises(AccessDenied, match="not team 2"):
        mail.save_template(store, manager, theirs, "East only", "Hi", "Changed", 2, True, NOW)
    with pytest.raises(AccessDenied, match="Only an admin"):
        mail.save_template(store, manager, None, "Store-wide", "Hi", "Body", None, True, NOW)
    with pytest.raises(AccessDenied):
        mail.save_template(store, rep, None, "Mine", "Hi", "Body", 1, True, NOW)
    mail.save_template(store, manager, ours, "Check-in", "Hi", "Body", 1, False, NOW)
    assert ours not in set(mail.templates(store, rep)["id"])
    assert ours in set(mail.templates(store, manager, include_inactive=True)["id"])
    with store.read() as con:
        actions = con.execute("SELECT action FROM audit_log WHERE entity = 'email_template' AND entity_id = ? "
                              "ORDER BY id", [str(ours)]).fetchall()
    assert actions == [("create",), ("update",)]


def test_a_template_with_problems_is_refused_naming_each_of_them(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    mail.save_template(store, manager, None, "Taken", "Hi", "Body", 1, True, NOW)
    with pytest.raises(mail.MailError) as err:
        mail.save_template(store, manager, None, "taken", "", "{{ lead.__class__ }} {% if %}", 1, True, NOW)
    text = str(err.value)
    for needle in ("already has a template named 'taken'", "give the email a subject", "template error"):
        assert needle in text
    with pytest.raises(mail.MailError, match="'__class__', which a template may not use"):
        mail.save_template(store, manager, None, "Escape", "Hi", "{{ lead.__class__.__mro__ }}", 1, True, NOW)
    assert mail.templates(store, manager)["name"].to_list().count("Taken") == 1


def test_a_preview_flags_what_the_lead_lacks_and_is_only_for_leads_in_scope(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _rep_leads(store, rep, 1)[0]
    _sql(store, "UPDATE leads SET city = NULL WHERE id = ?", [lead])
    out = mail.preview(store, rep, "Hi {{ lead.first_name }}", "In {{ lead.city }}?", lead)
    assert out["missing"] == ["lead.city"] and out["body"] == "In [lead.city]?" and out["blocked"] is None
    assert out["subject"].startswith("Hi ") and "[" not in out["subject"]
    with pytest.raises(mail.MailError, match="not in your book|no lead"):
        mail.preview(store, rep, "Hi", "Body", _other_lead(store, rep))
    analyst = resolve_actor(store, "analyst")
    assert mail.preview(store, analyst, "Hi {{ lead.contact_name }}", "x", lead)["subject"] == "Hi •••"


# ---------------------------------------------------------------- sending by hand


def test_sending_by_hand_queues_the_email_and_logs_an_email_activity_in_one_transaction(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _rep_leads(store, rep, 1)[0]
    with store.read() as con:
        before = con.execute("SELECT count(*) FROM activities WHERE lead_id = ?", [lead]).fetchone()[0]
    email_id = mail.send_now(store, rep, lead, INTRO, NOW)
    [email] = _emails(store)
    assert (email["id"], email["status"], email["lead_id"], email["queued_by"]) == (email_id, "queued", lead, "rep")
    assert email["subject"].startswith("Hello ") and email["next_attempt_at"] == NOW
    with store.read() as con:
        acts = con.execute("SELECT type, source, rep_id, notes FROM activities WHERE lead_id = ? AND source = 'email'",
                           [lead]).fetchall()
        total = con.execute("SELECT count(*) FROM activities WHERE lead_id = ?", [lead]).fetchone()[0]
    assert total == before + 1
    assert acts == [("email", "email", rep.rep_id, f"Subject: {email['subject']}")]


def test_sending_by_hand_refuses_do_not_contact_unfillable_tokens_other_books_and_readers(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    blocked, plain = _rep_leads(store, rep, 2)
    _sql(store, "UPDATE leads SET do_not_contact = true WHERE id = ?", [blocked])
    with pytest.raises(mail.MailError, match="asked not to be contacted"):
        mail.send_now(store, rep, blocked, INTRO, NOW)
    _sql(store, "UPDATE leads SET city = NULL WHERE id = ?", [plain])
    with pytest.raises(mail.MailError, match="does not have"):
        mail.send_now(store, rep, plain, ("Hi", "In {{ lead.city }}"), NOW)
    with pytest.raises(mail.MailError, match="in your book"):
        mail.send_now(store, rep, _other_lead(store, rep), INTRO, NOW)
    with pytest.raises(AccessDenied):
        mail.send_now(store, resolve_actor(store, "analyst"), plain, INTRO, NOW)
    assert _emails(store) == []
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM activities WHERE source = 'email'").fetchone()[0] == 0


# ---------------------------------------------------------------- the queue over real SMTP


def test_send_due_delivers_a_queued_email_with_its_pixel_and_signed_links(store: Store, smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    lead = _rep_leads(store, rep, 1)[0]
    email_id = mail.send_now(store, rep, lead, INTRO, NOW)
    result = mail.send_due(store, NOW + timedelta(seconds=5), settings)
    assert result == {"sent": 1, "failed": 0, "retried": 0, "suppressed": 0, "configured": True, "message": None}
    [(rcpt, msg)] = inbox.messages
    [email] = _emails(store)
    with store.read() as con:
        sealed, token = con.execute("SELECT email, (SELECT token FROM emails WHERE id = ?) FROM leads WHERE id = ?",
                                    [email_id, lead]).fetchone()
    address = crypto.open_(store.keyring, sealed)
    assert rcpt == [address] and msg["To"] == address and msg["Subject"] == email["subject"]
    assert msg["From"] == "Flash Sales <sales@flash.example>" and msg["Message-ID"] == email["message_id"]
    assert msg["Reply-To"].endswith("@flashpay.example>")
    text = msg.get_body(("plain",)).get_content()
    assert "See https://flashpay.example/pricing." in text and text.startswith("Dear ")
    page = msg.get_body(("html",)).get_content()
    assert f'src="{BASE}/o/{token}.gif"' in page
    href = urlsplit(page.split('href="')[1].split('"')[0].replace("&amp;", "&"))
    query = parse_qs(href.query)
    assert href.path == f"/c/{token}" and query["u"] == ["https://flashpay.example/pricing"]
    assert tracking.verify(SECRET.encode(), token, "https://flashpay.example/pricing", query["s"][0])
    assert (email["status"], email["attempts"]) == ("sent", 1) and email["sent_at"] >= NOW
    assert mail.send_due(store, NOW + timedelta(minutes=1), settings)["sent"] == 0
    assert len(inbox.messages) == 1


def test_do_not_contact_is_suppressed_when_queued_and_when_marked_after_queueing(store: Store, smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    early, late = _rep_leads(store, rep, 2)
    _sql(store, "UPDATE leads SET do_not_contact = true WHERE id = ?", [early])
    with store.write() as con:  # a sequence step queues without check_sendable: it gets a suppressed row
        mail.queue_email(store, con, "rule", early, *INTRO, NOW)
        mail.queue_email(store, con, "rule", late, *INTRO, NOW)
    _sql(store, "UPDATE leads SET do_not_contact = true WHERE id = ?", [late])
    result = mail.send_due(store, NOW, settings)
    assert (result["sent"], result["suppressed"]) == (0, 1)
    assert inbox.messages == []
    assert [(e["lead_id"], e["status"], e["last_error"]) for e in _emails(store)] == [
        (early, "suppressed", "the lead asked not to be contacted"),
        (late, "suppressed", "the lead asked not to be contacted")]


def test_a_closed_smtp_port_is_retried_with_backoff_and_fails_after_the_fifth_attempt(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    settings = _settings(_free_port())  # nothing listens there
    at, waits = NOW, []
    for attempt in range(1, 5):
        result = mail.send_due(store, at, settings)
        [email] = _emails(store)
        assert result["retried"] == 1 and (email["status"], email["attempts"]) == ("queued", attempt)
        assert f"Attempt {attempt} of 5 failed: could not reach the SMTP server" in email["last_error"]
        assert mail.send_due(store, email["next_attempt_at"] - timedelta(seconds=1), settings)["retried"] == 0
        waits.append(email["next_attempt_at"] - at)
        at = email["next_attempt_at"]
    assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
    assert mail.send_due(store, at, settings)["failed"] == 1
    [email] = _emails(store)
    assert (email["status"], email["attempts"], email["next_attempt_at"]) == ("failed", 5, None)
    assert email["last_error"].startswith("Gave up after 5 attempts") and email["reason"] == email["last_error"]


def test_a_permanent_refusal_fails_at_once(store: Store, smtp) -> None:
    settings, inbox = smtp
    inbox.refuse = "554 5.7.1 Message rejected as spam"
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    assert mail.send_due(store, NOW, settings)["failed"] == 1
    [email] = _emails(store)
    assert email["status"] == "failed" and "554" in email["last_error"] and email["attempts"] == 1


def _server_that_hangs_up_after_the_message(port_holder: list[int], got: list[bytes]) -> threading.Thread:
    """A minimal SMTP server that reads a whole message and closes the connection instead of answering it:
    the one moment when the sender cannot know whether the message was accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port_holder.append(listener.getsockname()[1])

    def serve() -> None:
        con, _ = listener.accept()
        with con, listener, con.makefile("rwb") as f:
            def say(line: str) -> None:
                f.write(line.encode() + b"\r\n")
                f.flush()
            say("220 hangup.example ESMTP")
            while line := f.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    say("250 OK")
                elif verb == b"DATA":
                    say("354 go ahead")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        data += f.readline()
                    got.append(data)
                    return  # hang up without a reply

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_connection_lost_after_the_message_went_out_fails_it_as_perhaps_delivered_without_retry(
        store: Store) -> None:
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    port, got = [], []
    thread = _server_that_hangs_up_after_the_message(port, got)
    result = mail.send_due(store, NOW, _settings(port[0]))
    thread.join(timeout=10)
    [email] = _emails(store)
    assert len(got) == 1 and (result["failed"], result["retried"]) == (1, 0)
    assert email["status"] == "failed" and "may have accepted it" in email["last_error"]
    assert mail.send_due(store, NOW + timedelta(days=1), _settings(_free_port()))["retried"] == 0


def test_without_smtp_settings_nothing_is_sent_and_the_result_says_so(store: Store, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    monkeypatch.setattr(tracking, "ROOT", tmp_path)
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    result = mail.send_due(store, NOW)
    assert result["configured"] is False and result["message"].startswith("SMTP is not configured")
    assert "Due now: 1" in result["message"] and _emails(store)[0]["status"] == "queued"


def test_two_senders_at_once_send_each_email_once(store: Store, smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    for lead in _rep_leads(store, rep, 3):
        mail.send_now(store, rep, lead, INTRO, NOW)
    start = threading.Barrier(2)
    results: list[dict] = []

    def run() -> None:
        start.wait()
        results.append(mail.send_due(store, NOW, settings))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r["sent"] for r in results) == 3
    assert sorted(m["Message-ID"] for _, m in inbox.messages) == sorted(e["message_id"] for e in _emails(store))
    assert len(inbox.messages) == 3 and {e["status"] for e in _emails(store)} == {"sent"}


def _send_in_a_process_that_dies_at(store: Store, settings: mail.SmtpSettings, point: str) -> int:
    code = ("import sys; from datetime import datetime; from flashdash import mail; from flashdash.store import Store; "
            f"mail.send_due(Store({str(store.path)!r}), datetime.fromisoformat({NOW.isoformat()!r}), "
            f"mail.SmtpSettings(host='127.0.0.1', port={settings.port}, tls='none', "
            "from_address='sales@flash.example'))")
    env = {**os.environ, "FLASHDASH_FAULT": f"{point}=crash", "FLASHDASH_TRACKING_SECRET": SECRET}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=120).returncode


def test_an_email_accepted_just_before_the_sender_died_is_recorded_sent_and_not_sent_again(store: Store,
                                                                                            smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    assert _send_in_a_process_that_dies_at(store, settings, "send_due.accepted") == 137
    assert len(inbox.messages) == 1 and _emails(store)[0]["status"] == "sending"
    result = mail.send_due(store, NOW + timedelta(minutes=1), settings)
    [email] = _emails(store)
    assert result["sent"] == 1 and email["status"] == "sent" and email["message_id"] == inbox.messages[0][1]["Message-ID"]
    assert len(inbox.messages) == 1
    assert list(Path(f"{store.path}.mail").glob("*.log")) == []


def test_an_attempt_cut_off_mid_send_is_failed_as_perhaps_delivered_and_never_resent(store: Store, smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    assert _send_in_a_process_that_dies_at(store, settings, "send_due.started") == 137
    result = mail.send_due(store, NOW + timedelta(minutes=1), settings)
    [email] = _emails(store)
    assert result["failed"] == 1 and email["status"] == "failed"
    assert "may have been delivered" in email["last_error"] and email["message_id"] in email["last_error"]
    assert mail.send_due(store, NOW + timedelta(days=1), settings)["sent"] == 0
    assert inbox.messages == []


def test_emails_claimed_by_a_sender_that_died_before_trying_them_are_sent_once_by_the_next(store: Store,
                                                                                           smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    for lead in _rep_leads(store, rep, 2):
        mail.send_now(store, rep, lead, INTRO, NOW)
    assert _send_in_a_process_that_dies_at(store, settings, "send_due.claimed") == 137
    assert {e["status"] for e in _emails(store)} == {"sending"}
    assert mail.send_due(store, NOW + timedelta(minutes=1), settings)["sent"] == 2
    assert [e["attempts"] for e in _emails(store)] == [1, 1] and len(inbox.messages) == 2


def test_a_sender_still_running_keeps_its_claims(store: Store, smtp) -> None:
    settings, inbox = smtp
    rep = resolve_actor(store, "rep")
    mail.send_now(store, rep, _rep_leads(store, rep, 1)[0], INTRO, NOW)
    journal = mail._Journal(store.path)
    claimed, batch = mail._claim(store, NOW, settings, journal, 10, mail._empty_result())  # this process: alive
    assert len(claimed) == 1
    later = mail.send_due(store, NOW + timedelta(hours=1), settings)
    assert (later["sent"], later["failed"]) == (0, 0) and _emails(store)[0]["status"] == "sending"
    batch.abandon()  # its run could not store its outcomes: the next run settles them from the journal
    assert mail.send_due(store, NOW + timedelta(hours=1), settings)["sent"] == 1
    assert len(inbox.messages) == 1


# ---------------------------------------------------------------- rates and the outbox


def _email(store: Store, con, email_id: int, lead: int, rep: int, template: int | None, enrollment: int | None,
           sent_at: datetime | None, status: str = "sent") -> None:
    con.execute("INSERT INTO emails (id, lead_id, rep_id, template_id, enrollment_id, to_address, subject, body, "
                "token, status, attempts, queued_by, queued_at, sent_at) VALUES (?, ?, ?, ?, ?, 'x@y.example', 's', "
                "'b', ?, ?, 1, 'test', ?, ?)",
                [email_id, lead, rep, template, enrollment, f"token{email_id:012d}", status, NOW, sent_at])


def _event(con, email_id: int, kind: str, minutes: int = 10) -> None:
    con.execute("INSERT INTO email_events (id, email_id, kind, occurred_at) VALUES (nextval('email_events_id_seq'), "
                "?, ?, ?)", [email_id, kind, NOW + timedelta(minutes=minutes)])


def test_rates_count_distinct_emails_opened_clicked_and_replied_per_template_sequence_and_rep(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    mine, theirs = _rep_leads(store, rep, 1)[0], _other_lead(store, rep)
    with store.write() as con:
        con.execute("INSERT INTO email_templates (id, name, subject, body, active) "
                    "VALUES (901, 'Intro', 's', 'b', true), (902, 'Pricing', 's', 'b', true)")
        con.execute("INSERT INTO sequences (id, name, pause_on, active) VALUES (801, 'Inbound', 'reply', true)")
        con.execute("INSERT INTO sequence_enrollments (id, sequence_id, lead_id, enrolled_by, enrolled_at, status, "
                    "next_position) VALUES (701, 801, ?, 'test', ?, 'active', 1)", [mine, NOW])
        sent = NOW - timedelta(days=1)
        _email(store, con, 1, mine, rep.rep_id, 901, 701, sent)   # opened twice, clicked, replied
        _email(store, con, 2, mine, rep.rep_id, 901, None, sent)  # clicked only (images blocked): counts as opened
        _email(store, con, 3, mine, rep.rep_id, 902, None, sent)  # nothing
        _email(store, con, 4, mine, rep.rep_id, None, None, sent)  # written by hand, opened
        _email(store, con, 5, theirs, 6, 901, None, sent)         # another team's rep: opened
        _email(store, con, 6, mine, rep.rep_id, 901, None, NOW - timedelta(days=40))  # before the period
        _email(store, con, 7, mine, rep.rep_id, 901, None, None, status="queued")    # not sent
        for email_id, kind in [(1, "open"), (1, "open"), (1, "click"), (1, "reply"), (2, "click"), (4, "open"),
                               (5, "open"), (6, "open"), (7, "open")]:
            _event(con, email_id, kind)
    admin = resolve_actor(store, "admin")
    period = (NOW.date() - timedelta(days=7), NOW.date())
    by_template = {r["label"]: r for r in mail.rates(store, admin, *period, "template").to_dicts()}
    assert {k: (v["sent"], v["opened"], v["clicked"], v["replied"]) for k, v in by_template.items()} == {
        "Intro": (3, 3, 2, 1), "Pricing": (1, 0, 0, 0), "written by hand": (1, 1, 0, 0)}
    assert by_template["Intro"]["open_rate"] == 1.0 and by_template["Intro"]["click_rate"] == pytest.approx(2 / 3)
    assert by_template["Pricing"]["open_rate"] == 0.0 and by_template["Intro"]["reply_rate"] == pytest.approx(1 / 3)
    by_sequence = {r["label"]: r["sent"] for r in mail.rates(store, admin, *period, "sequence").to_dicts()}
    assert by_sequence == {"Inbound": 1, "not in a sequence": 4}
    mine_only = mail.rates(store, rep, *period, "rep").to_dicts()
    assert [(r["key"], r["sent"], r["opened"]) for r in mine_only] == [(rep.rep_id, 4, 3)]
    with pytest.raises(mail.MailError, match="grouped by"):
        mail.rates(store, admin, *period, "vertical")


def test_the_outbox_says_why_and_masks_contacts_for_analysts(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _rep_leads(store, rep, 1)[0]
    with store.write() as con:
        _email(store, con, 1, lead, rep.rep_id, None, None, None, status="suppressed")
        con.execute("UPDATE emails SET last_error = 'the lead asked not to be contacted' WHERE id = 1")
        _email(store, con, 2, lead, rep.rep_id, None, None, None, status="queued")
        con.execute("UPDATE emails SET attempts = 2, last_error = 'Attempt 2 of 5 failed: down.', "
                    "next_attempt_at = ? WHERE id = 2", [NOW + timedelta(minutes=5)])
    rows = {r["id"]: r for r in mail.outbox(store, rep).to_dicts()}
    assert rows[1]["reason"] == "the lead asked not to be contacted"
    assert rows[2]["reason"] == "Attempt 2 of 5 failed: down. Next attempt at 2026-06-30 12:05."
    masked = mail.outbox(store, resolve_actor(store, "analyst")).to_dicts()
    assert {r["email"] for r in masked} == {"•••"} and {r["subject"] for r in masked} == {"•••"}
    assert mail.outbox(store, resolve_actor(store, "rep"), statuses=["queued"])["id"].to_list() == [2]
