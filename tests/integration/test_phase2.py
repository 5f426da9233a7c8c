"""Phase 2's measures on a real store: each target counts what its domain read counts, in the actor's scope, and
compares the period with the one of equal length before it."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flashdash import phase2, tasks
from flashdash.access import resolve_actor
from flashdash.store import Store
from tests.conftest import NOW

START, END = date(2026, 4, 2), date(2026, 6, 30)


def _team_leads(store: Store, rep_ids: list[int], n: int) -> list[tuple[int, int]]:
    with store.read() as con:
        return con.execute("SELECT id, owner_id FROM leads WHERE list_contains(?, owner_id) ORDER BY id LIMIT ?",
                           [rep_ids, n]).fetchall()


def test_compliance_counts_the_tasks_due_in_each_period_and_judges_the_change(demo_copy: Store) -> None:
    manager, admin = resolve_actor(demo_copy, "manager"), resolve_actor(demo_copy, "admin")
    before = phase2.measures(demo_copy, manager, START, END, NOW)
    leads = _team_leads(demo_copy, list(manager.scope_reps or ()), 10)
    due = datetime(2026, 5, 4, 9)
    with demo_copy.write() as con:
        ids = [tasks.create_task(demo_copy, con, lead, rep, "Call back", due, "test", due - timedelta(days=1))
               for lead, rep in leads]
    for task_id in ids[:7]:
        tasks.complete(demo_copy, admin, task_id, due - timedelta(hours=1))
    after = phase2.measures(demo_copy, manager, START, END, NOW)
    old, new = (m["targets"].filter(key="compliance").row(0, named=True) for m in (before, after))
    assert new["n_current"] == old["n_current"] + 10 and new["n_baseline"] == old["n_baseline"]
    on_time = before["compliance"]["done_on_time"] + 7
    assert new["current"] == on_time / new["n_current"]
    assert new["change"] == phase2.relative_change(new["current"], new["baseline"])
    assert new["status"] == phase2.judge(new["current"], new["baseline"], 0.35)
    assert after["baseline_period"] == (date(2026, 1, 2), date(2026, 4, 1))


def test_a_rep_counts_only_their_own_tasks_and_emails(demo_copy: Store) -> None:
    rep, manager = resolve_actor(demo_copy, "rep"), resolve_actor(demo_copy, "manager")
    mine, team = (phase2.measures(demo_copy, a, START, END, NOW) for a in (rep, manager))
    assert set(mine["compliance"]["by_rep"]["rep_id"]) <= {rep.rep_id}
    assert mine["compliance"]["due"] <= team["compliance"]["due"]
    assert mine["email"]["sent"] <= team["email"]["sent"]
    assert mine["targets"].height == 4 and set(mine["targets"]["key"]) == {t.key for t in phase2.TARGETS}


def test_email_totals_add_up_every_group_and_have_no_rate_without_emails() -> None:
    import polars as pl

    frame = pl.DataFrame({"sent": [10, 30], "opened": [4, 6], "clicked": [1, 2]})
    assert phase2.email_totals(frame) == {"sent": 40, "opened": 10, "clicked": 3, "open_rate": 0.25,
                                          "click_rate": 3 / 40}
    assert phase2.email_totals(frame.clear())["open_rate"] is None
