"""The demo's Phase 2 history: templates, rule tasks, sent emails with their events and typed fields, consistent
with the rest of the demo, and with the before and after that the Activities page's measures compare."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash import activities, demo_history, mail, tasks
from flashdash.access import resolve_actor
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW

GO_LIVE = NOW - timedelta(days=demo_history.GO_LIVE_DAYS)
SINCE = NOW - timedelta(days=demo_history.HISTORY_DAYS)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The XS demo as `python -m flashdash demo` makes it: with its Phase 2 history."""
    from flashdash import demo, users

    store = Store(tmp_path_factory.mktemp("history") / "demo.duckdb")
    demo.generate(store, "XS", seed=7, now=NOW)
    users.create_demo_users(store, NOW)
    return store


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


def test_the_demo_stores_both_template_libraries_and_history_in_every_phase_2_table(demo_store: Store) -> None:
    counts = dict(_rows(demo_store, "SELECT 'tasks', count(*) FROM tasks UNION ALL SELECT 'emails', count(*) FROM emails "
                                    "UNION ALL SELECT 'events', count(*) FROM email_events"))
    assert min(counts.values()) > 50, counts
    names = {r[0] for r in _rows(demo_store, "SELECT name FROM activity_templates")}
    assert names == {t["name"] for t in activities.STARTER_TEMPLATES}
    assert {r[0] for r in _rows(demo_store, "SELECT name FROM email_templates")} == {s[0] for s in mail.STARTERS}


def test_nothing_in_the_history_happens_after_now_or_before_its_cause(demo_store: Store) -> None:
    assert _rows(demo_store, "SELECT count(*) FROM tasks WHERE created_at > ? OR done_at > ? OR done_at < created_at",
                 [NOW, NOW]) == [(0,)]
    assert _rows(demo_store, "SELECT count(*) FROM email_events v JOIN emails e ON e.id = v.email_id "
                             "WHERE v.occurred_at > ? OR v.occurred_at < e.sent_at", [NOW]) == [(0,)]


def test_tasks_go_to_the_leads_owner_and_emails_respect_do_not_contact(demo_store: Store) -> None:
    assert _rows(demo_store, "SELECT count(*) FROM tasks t JOIN leads l ON l.id = t.lead_id WHERE t.status = 'open' "
                             "AND l.status IN ('lost', 'disqualified')") == [(0,)], "no work left on a closed lead"
    assert _rows(demo_store, "SELECT count(*) FROM tasks t JOIN leads l ON l.id = t.lead_id "
                             "WHERE t.rep_id IS DISTINCT FROM l.owner_id") == [(0,)]
    assert _rows(demo_store, "SELECT count(*) FROM emails e JOIN leads l ON l.id = e.lead_id "
                             "WHERE l.do_not_contact OR fd_open(e.to_address) IS DISTINCT FROM fd_open(l.email)") == [(0,)]
    assert _rows(demo_store, "SELECT count(*) FROM emails WHERE body LIKE '%{{%'") == [(0,)], "every token filled"


def test_the_measures_see_the_before_and_after_the_demo_assumes(demo_store: Store) -> None:
    admin = resolve_actor(demo_store, "admin")
    before = tasks.compliance(demo_store, admin, SINCE, GO_LIVE, NOW)["rate"]
    after = tasks.compliance(demo_store, admin, GO_LIVE, NOW, NOW)["rate"]
    assert after > before * 1.2
    entry = activities.data_entry(demo_store, admin, GO_LIVE, NOW)["frame"]
    typed = dict(zip(entry["template_use"], entry["mean_fields_typed"], strict=True))
    assert typed["with a template"] < 0.6 * typed["without a template"]

    def open_rate(lo, hi) -> float:
        sent, opened = mail.rates(demo_store, admin, lo, hi, "rep").select("sent", "opened").sum().row(0)
        return opened / sent

    assert open_rate(GO_LIVE, NOW) > open_rate(SINCE, GO_LIVE)


@pytest.mark.parametrize("seed", [7])
def test_the_same_demo_gives_the_same_history(demo_store: Store, tmp_path, seed: int) -> None:
    from flashdash import demo

    other = Store(tmp_path / "again.duckdb")
    demo.generate(other, "XS", seed=seed, now=NOW)
    query = "SELECT * FROM {} ORDER BY id"
    for table in ("tasks", "emails", "email_events"):
        assert _rows(other, query.format(table)) == _rows(demo_store, query.format(table)), table
