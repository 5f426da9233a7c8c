"""Email's pure parts: previews, the HTML part with its pixel and signed links, SMTP settings, backoff, rates."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import mail, tracking

LEAD = {"merchant_name": "Carter's Kitchen", "contact_name": "Priya Gonzalez", "email": "priya@carters.example"}
REP = {"id": 2, "name": "Hiroshi Miller", "email": "hiroshi@flash.example"}
SECRET = b"unit-test-secret"
BASE = "https://t.flash.example"


# ---------------------------------------------------------------- preview


def test_a_preview_fills_what_the_lead_has_and_marks_and_lists_what_it_lacks() -> None:
    out = mail.preview_text("Hi {{ lead.first_name }}", "{{ lead.merchant_name }} in {{ lead.city }}, {{ rep.title }}",
                            LEAD, REP)
    assert out["subject"] == "Hi Priya"
    assert out["body"] == "Carter's Kitchen in [lead.city], [rep.title]"
    assert out["missing"] == ["lead.city", "rep.title"]
    assert out["problems"] == []


def test_a_preview_of_a_broken_template_shows_it_as_written_with_its_problems() -> None:
    out = mail.preview_text("Hi {{ lead.first_name", "{{ unknown }}", LEAD, REP)
    assert out["subject"] == "Hi {{ lead.first_name" and out["body"] == "{{ unknown }}"
    assert any("template error" in p for p in out["problems"])
    assert any("uses unknown" in p for p in out["problems"])


@pytest.mark.parametrize("body", ["{{ lead.__class__.__mro__ }}", "{{ lead['__class__'] }}",
                                  "{{ ''.__class__.__subclasses__() }}"])
def test_a_template_reaching_out_of_the_sandbox_is_refused(body: str) -> None:
    assert mail.unsafe_names("Hi", body)
    with pytest.raises(mail.MailError, match="may not"):
        mail.preview_text("Hi", body, LEAD, REP)


def test_a_filter_on_a_missing_value_is_a_problem_not_a_crash() -> None:
    out = mail.preview_text("Hi", "{{ lead.city.nope.deeper() }}", LEAD, REP)
    assert out["missing"] == ["lead.city"]
    assert out["problems"] and out["body"] == "{{ lead.city.nope.deeper() }}"


# ---------------------------------------------------------------- the HTML part


def test_links_stop_before_the_punctuation_that_ends_a_sentence() -> None:
    text = ("See https://flash.example/pricing. Or (https://flash.example/a_(b)) and https://x.example/q?a=1&b=2, "
            "not javascript:alert(1) nor mailto:x@y.example")
    assert [u for _, _, u in mail.links(text)] == [
        "https://flash.example/pricing", "https://flash.example/a_(b)", "https://x.example/q?a=1&b=2"]


def test_the_html_part_signs_every_link_escapes_the_text_and_ends_with_the_pixel() -> None:
    body = "Hi <Priya> & co,\n\nPricing: https://flash.example/pricing?plan=a&x=1\nThanks\n"
    out = mail.tracked_html(body, "tok_abcdefghijklmnop", BASE, SECRET)
    assert "Hi &lt;Priya&gt; &amp; co," in out and "<br>" in out
    hrefs = re.findall(r'href="([^"]+)"', out)
    assert len(hrefs) == 1
    href = hrefs[0].replace("&amp;", "&")
    parts = urlsplit(href)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == "/c/tok_abcdefghijklmnop"
    query = parse_qs(parts.query)
    assert query["u"] == ["https://flash.example/pricing?plan=a&x=1"]
    assert tracking.verify(SECRET, "tok_abcdefghijklmnop", query["u"][0], query["s"][0])
    assert out.rstrip().endswith("</body></html>")
    assert f'<img src="{BASE}/o/tok_abcdefghijklmnop.gif" width="1" height="1"' in out


def test_a_signature_holds_only_for_its_own_token_url_and_key() -> None:
    sig = tracking.sign(SECRET, "tok_abcdefghijklmnop", "https://flash.example/a")
    assert tracking.verify(SECRET, "tok_abcdefghijklmnop", "https://flash.example/a", sig)
    assert not tracking.verify(SECRET, "tok_abcdefghijklmnop", "https://evil.example/a", sig)
    assert not tracking.verify(SECRET, "tok_OTHERefghijklmnop", "https://flash.example/a", sig)
    assert not tracking.verify(b"another key", "tok_abcdefghijklmnop", "https://flash.example/a", sig)
    assert not tracking.verify(SECRET, "tok_abcdefghijklmnop", "https://flash.example/a", "")


def test_a_message_has_a_text_part_and_an_html_part_and_no_header_injection() -> None:
    settings = mail.SmtpSettings(host="h", port=25, tls="none", from_address="sales@flash.example",
                                 from_name="Flash Sales")
    msg = mail.compose(settings, "priya@carters.example", "Hello\r\nBcc: victim@example.com", "text body",
                       "<p>html body</p>", {"Message-ID": "<fixed@flash.example>", "Reply-To": "r@flash.example"})
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert parsed["Subject"] == "Hello Bcc: victim@example.com" and parsed["Bcc"] is None
    assert parsed["From"] == "Flash Sales <sales@flash.example>" and parsed["Message-ID"] == "<fixed@flash.example>"
    assert parsed["Reply-To"] == "r@flash.example"
    assert parsed.get_body(("plain",)).get_content().strip() == "text body"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>html body</p>"


# ---------------------------------------------------------------- settings


def _secrets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return path


def test_smtp_is_not_configured_without_a_host(tmp_path: Path) -> None:
    assert mail.smtp_settings(_secrets(tmp_path, "[auth]\ncookie_key = 'x'\n"), environ={}) is None


def test_smtp_settings_come_from_secrets_and_the_environment_overrides_them(tmp_path: Path) -> None:
    path = _secrets(tmp_path, '[smtp]\nhost = "mail.example"\nport = 2525\ntls = "ssl"\nuser = "u"\n'
                              'password = "pw-secret"\nfrom_address = "sales@flash.example"\nfrom_name = "Flash"\n')
    s = mail.smtp_settings(path, environ={})
    assert (s.host, s.port, s.tls, s.user, s.password, s.from_address, s.from_name) == \
        ("mail.example", 2525, "ssl", "u", "pw-secret", "sales@flash.example", "Flash")
    assert "pw-secret" not in repr(s)
    s = mail.smtp_settings(path, environ={"FLASHDASH_SMTP_HOST": "smtp.other", "FLASHDASH_SMTP_TLS": "starttls",
                                          "FLASHDASH_SMTP_PORT": "587",
                                          "FLASHDASH_SMTP_FROM": "Team <team@flash.example>"})
    assert (s.host, s.port, s.tls, s.from_address, s.from_name) == \
        ("smtp.other", 587, "starttls", "team@flash.example", "Team")


def test_smtp_settings_default_the_port_from_the_tls_mode(tmp_path: Path) -> None:
    env = {"FLASHDASH_SMTP_HOST": "h", "FLASHDASH_SMTP_FROM": "a@b.example"}
    empty = _secrets(tmp_path, "")
    assert mail.smtp_settings(empty, environ=env).port == 587
    assert mail.smtp_settings(empty, environ={**env, "FLASHDASH_SMTP_TLS": "ssl"}).port == 465
    assert mail.smtp_settings(empty, environ={**env, "FLASHDASH_SMTP_TLS": "none"}).port == 25


def test_unusable_smtp_settings_name_every_problem(tmp_path: Path) -> None:
    env = {"FLASHDASH_SMTP_HOST": "h", "FLASHDASH_SMTP_PORT": "eighty", "FLASHDASH_SMTP_TLS": "tls1.3",
           "FLASHDASH_SMTP_PASSWORD": "pw"}
    with pytest.raises(mail.MailError) as err:
        mail.smtp_settings(_secrets(tmp_path, ""), environ=env)
    text = str(err.value)
    for needle in ("FLASHDASH_SMTP_TLS", "FLASHDASH_SMTP_PORT", "without a user", "FLASHDASH_SMTP_FROM"):
        assert needle in text
    assert "pw" not in text.replace("password", "")


# ---------------------------------------------------------------- the queue's pure parts


def test_retries_back_off_one_five_thirty_minutes_then_two_hours() -> None:
    now = datetime(2026, 6, 30, 12)
    assert [mail.next_attempt(n, now) - now for n in (1, 2, 3, 4)] == \
        [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]


def test_an_uncertain_delivery_is_never_retried() -> None:
    err = mail.DeliveryError("broke", retry=True, uncertain=True)
    assert not err.retry and err.uncertain


def test_rates_are_counts_over_sent_and_null_when_nothing_was_sent() -> None:
    counts = pl.DataFrame({"key": [1, 2, None], "label": ["a", "b", "written by hand"], "sent": [4, 0, 2],
                           "opened": [2, 0, 1], "clicked": [1, 0, 0], "replied": [0, 0, 1]})
    out = mail.rate_columns(counts)
    expected = counts.cast({"key": pl.Int64}).with_columns(
        open_rate=pl.Series([0.5, None, 0.5]), click_rate=pl.Series([0.25, None, 0.0]),
        reply_rate=pl.Series([0.0, None, 0.5]))
    assert_frame_equal(out, expected)


def test_a_spooled_event_must_be_well_formed_to_be_read() -> None:
    good = tracking.new_event("click", "tok_abcdefghijklmnop", "https://a.example", datetime(2026, 6, 30, 12, 0, 0, 5))
    assert tracking.parse_event(__import__("json").dumps(good).encode())["at"] == datetime(2026, 6, 30, 12, 0, 0, 5)
    for bad in (b"not json", b'{"kind":"open"}', b'{"kind":"delete","token":"tok_abcdefghijklmnop","at":"2026-06-30"}',
                b'{"kind":"open","token":"../../etc","at":"2026-06-30"}',
                b'{"kind":"open","token":"tok_abcdefghijklmnop","at":"yesterday"}'):
        assert tracking.parse_event(bad) is None
