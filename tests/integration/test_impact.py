"""Phase 1's targets measured against a baseline: response time, lead-to-opportunity conversion, productivity."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from flashdash import impact
from flashdash.access import Actor
from flashdash.filters import FilterError, Filters
from flashdash.store import Store, copy_file

ADMIN = Actor("admin", "Ada", "admin")
# 2019 is years before the demo's history: these hand-made leads are the only ones in both periods.
BASELINE = (date(2019, 1, 1), date(2019, 1, 31))
PERIOD = Filters(start=date(2019, 2, 1), end=date(2019, 2, 28))
TODAY = date(2019, 3, 10)  # ten days after the period: the baseline is judged ten days after its end too


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    copy = tmp_path / "store.duckdb"
    copy_file(demo_store.path, copy)
    store = Store(copy)
    with store.write() as con:
        rep = con.execute("SELECT id FROM reps WHERE title <> 'manager' ORDER BY id LIMIT 1").fetchone()[0]
        next_lead = con.execute("SELECT max(id) + 1 FROM leads").fetchone()[0]
        leads = [  # (submitted, hours to first activity or None, days to opportunity or None)
            (datetime(2019, 1, 10, 9), 8.0, 5), (datetime(2019, 1, 12, 9), 4.0, None),
            (datetime(2019, 1, 20, 9), 2.0, None), (datetime(2019, 1, 25, 9), None, None),
            (datetime(2019, 2, 10, 9), 2.0, 5), (datetime(2019, 2, 12, 9), 1.0, 6),
            (datetime(2019, 2, 20, 9), 1.5, None),
            # answered only 30 days later: after the period's cut-off (Mar 11), so not counted as responded
            (datetime(2019, 2, 25, 9), 24.0 * 30, None),
        ]
        for i, (at, hours, opp_days) in enumerate(leads):
            lead_id = next_lead + i
            con.execute("INSERT INTO leads (id, merchant_name, submitted_at, owner_id, status) VALUES (?, ?, ?, ?, ?)",
                        [lead_id, f"Impact {i}", at, rep, "opportunity" if opp_days else "new"])
            if hours is not None:
                con.execute("INSERT INTO activities (id, lead_id, rep_id, type, occurred_at) "
                            "VALUES (nextval('activities_id_seq'), ?, ?, 'call', ?)",
                            [lead_id, rep, at + timedelta(hours=hours)])
            if opp_days:
                con.execute("INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor) "
                            "VALUES (nextval('lead_stage_changes_id_seq'), ?, 'sql', 'opportunity', ?, 'rep')",
                            [lead_id, at + timedelta(days=opp_days)])
    return store


def test_each_target_compares_the_period_with_the_baseline_at_the_same_age(store: Store) -> None:
    out = impact.phase1(store, ADMIN, PERIOD, BASELINE, TODAY)
    t = {r["key"]: r for r in out["targets"].iter_rows(named=True)}
    # response: baseline 2, 4, 8 h -> median 4; period 1, 1.5, 2 h (the 30-day reply is after the cut-off) -> 1.5
    assert t["median_response_hours"]["baseline"] == pytest.approx(4.0)
    assert t["median_response_hours"]["current"] == pytest.approx(1.5)
    assert t["median_response_hours"]["change"] == pytest.approx(1.5 / 4 - 1) and t["median_response_hours"]["met"]
    # conversion: 1 of 4 in January, 2 of 4 in February: +100%, past the +30% target
    assert (t["lead_to_opportunity"]["baseline"], t["lead_to_opportunity"]["current"]) == (0.25, 0.5)
    assert t["lead_to_opportunity"]["met"]
    assert out["current"]["responded"] == 3 and out["baseline"]["responded"] == 3
    assert out["cutoffs"] == (datetime(2019, 3, 11), datetime(2019, 2, 11))


def test_productivity_counts_activities_per_working_day_of_the_reps_who_worked(store: Store) -> None:
    out = impact.phase1(store, ADMIN, PERIOD, BASELINE, TODAY)
    # February 2019 has 20 weekdays; the rep logged 3 activities in it (the 30-day reply lands in March)
    assert out["current"]["activities_per_rep_day"] == pytest.approx(3 / 20)
    assert out["baseline"]["activities_per_rep_day"] == pytest.approx(3 / 23)  # January 2019: 23 weekdays


def test_a_rep_outside_the_leads_sees_no_leads_and_no_change(store: Store) -> None:
    nobody = Actor("r", "R", "rep", rep_id=-1, scope_reps=(-1,))
    out = impact.phase1(store, nobody, PERIOD, BASELINE, TODAY)
    assert out["current"]["leads"] == 0 and out["targets"]["change"].null_count() == 3


@pytest.mark.parametrize(("baseline", "message"), [
    ((date(2019, 1, 31), date(2019, 1, 1)), "after it ends"),
    ((date(2019, 1, 15), date(2019, 2, 15)), "must end before the period starts"),
])
def test_a_baseline_that_does_not_come_before_the_period_is_refused(store: Store, baseline, message) -> None:
    with pytest.raises(FilterError, match=message):
        impact.phase1(store, ADMIN, PERIOD, baseline, TODAY)
