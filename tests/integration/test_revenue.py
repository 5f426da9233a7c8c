"""Revenue intelligence on real DuckDB files: a tiny hand-made store whose figures are worked out by hand here,
the XS demo for row scope, and the velocity refresh job stored and read back."""

from __future__ import annotations

import json
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from statsmodels.stats.proportion import proportion_confint

from flashdash import revenue
from flashdash.access import Actor, resolve_actor
from flashdash.store import Store
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
RITA_ID, SAM_ID = 2, 3
RITA = Actor("rita", "Rita Rep", "rep", rep_id=RITA_ID, scope_reps=(RITA_ID,))
JUNE = (date(2026, 6, 1), date(2026, 6, 30))
QUARTER = (date(2026, 4, 1), date(2026, 6, 30))

# (rep, created, closed or None, won, amount, days in each stage it left before the close or now, open stage)
DEALS = [
    # Rita: six won in June, five lost in June, three open, one lost in May, two won in March
    (RITA_ID, "2026-05-01", "2026-06-10", True, 12_000, (2, 3), None),
    (RITA_ID, "2026-05-21", "2026-06-20", True, 6_000, (4, 6), None),
    (RITA_ID, "2026-05-27", "2026-06-06", True, 9_000, (1, 2), None),
    (RITA_ID, "2026-04-12", "2026-06-11", True, 15_000, (10, 20), None),
    (RITA_ID, "2026-05-12", "2026-06-01", True, 8_000, (3, 7), None),
    (RITA_ID, "2026-06-02", "2026-06-27", True, 10_000, (5, 5), None),
    (RITA_ID, "2026-05-01", "2026-06-03", False, 5_000, (5,), None),
    (RITA_ID, "2026-05-05", "2026-06-08", False, 7_000, (), None),
    (RITA_ID, "2026-05-20", "2026-06-15", False, 4_000, (3, 4), None),
    (RITA_ID, "2026-06-01", "2026-06-22", False, 9_000, (), None),
    (RITA_ID, "2026-06-03", "2026-06-30", False, 3_000, (2,), None),
    (RITA_ID, "2026-06-15", None, False, 20_000, (3,), "proposal"),
    (RITA_ID, "2026-04-01", None, False, 1_000, (20, 30), "negotiation"),
    (RITA_ID, "2026-06-29", None, False, 5_000, (), "discovery"),
    (RITA_ID, "2026-04-01", "2026-05-20", False, 2_000, (), None),
    (RITA_ID, "2026-02-01", "2026-03-03", True, 5_000, (10, 10), None),
    (RITA_ID, "2026-02-15", "2026-03-17", True, 5_000, (10, 10), None),
    # Sam: six big wins in June, five lost in discovery in June, one open
    *[(SAM_ID, "2026-05-20", f"2026-06-{4 + i:02d}", True, 50_000, (5, 5), None) for i in range(6)],
    *[(SAM_ID, "2026-05-25", f"2026-06-{10 + i:02d}", False, 1_000, (), None) for i in range(5)],
    (SAM_ID, "2026-06-20", None, False, 30_000, (), "discovery"),
]
STAGES = ("discovery", "proposal", "negotiation")


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day) + timedelta(hours=9)


def _stays(deal: tuple) -> list[tuple[str, datetime, datetime, str]]:
    """A deal's stays as (stage, entered, left, next stage): the stages it left, then the close."""
    _, created, closed, won, _, days, _ = deal
    out, t = [], _at(created)
    for i, d in enumerate(days):
        out.append((STAGES[i], t, t + timedelta(days=d), STAGES[i + 1]))
        t += timedelta(days=d)
    if closed:
        out.append((STAGES[len(days)], t, _at(closed), "closed_won" if won else "closed_lost"))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two reps of one team (and their manager); the deals above, with their stage history (the first deal has no
    recorded first stage: it starts in discovery at its creation)."""
    store = Store(tmp_path_factory.mktemp("revenue") / "tiny.duckdb")
    store.ensure_schema(NOW)
    n = len(DEALS)
    opps = pl.DataFrame({
        "id": range(1, n + 1), "lead_id": range(1, n + 1), "owner_id": [d[0] for d in DEALS],
        "amount": [float(d[4]) for d in DEALS],
        "stage": [d[6] or ("closed_won" if d[3] else "closed_lost") for d in DEALS],
        "created_at": [_at(d[1]) for d in DEALS], "closed_at": [_at(d[2]) if d[2] else None for d in DEALS],
        "won": [d[3] if d[2] else None for d in DEALS],
        "loss_reason": ["timing" if d[2] and not d[3] else None for d in DEALS],
        "win_reason": ["price" if d[2] and d[3] else None for d in DEALS],
        "competitor": ["Stripe" if d[0] == RITA_ID else "none" for d in DEALS],
    }, schema_overrides={"closed_at": pl.Datetime("us")})
    leads = pl.DataFrame({"id": range(1, n + 1), "owner_id": [d[0] for d in DEALS], "status": "opportunity",
                          "submitted_at": [_at(d[1]) - timedelta(days=7) for d in DEALS],
                          "vertical": ["retail" if d[0] == RITA_ID else "travel" for d in DEALS],
                          "company_size": "1-10"})
    changes = []
    for i, deal in enumerate(DEALS, start=1):
        if i > 1:
            changes.append((i, None, "discovery", _at(deal[1])))
        changes += [(i, stage, nxt, left) for stage, _, left, nxt in _stays(deal)]
    stage_changes = pl.DataFrame(changes, schema={"opportunity_id": pl.Int32, "from_value": pl.String,
                                                  "to_value": pl.String, "changed_at": pl.Datetime("us")},
                                 orient="row").with_columns(field=pl.lit("stage"), actor=pl.lit("Rita Rep"))
    with store.write() as con:
        con.execute("INSERT INTO teams (id, name, manager_id) VALUES (1, 'North', 1)")
        con.execute("INSERT INTO reps (id, name, title, team_id, manager_id, monthly_quota, active) VALUES "
                    "(1, 'Mo Manager', 'manager', 1, NULL, 0, true), (2, 'Rita Rep', 'rep', 1, 1, 20000, true), "
                    "(3, 'Sam Seller', 'rep', 1, 1, 20000, true)")
        for table, frame in (("leads", leads), ("opportunities", opps), ("opportunity_changes", stage_changes)):
            con.register("rows_in", frame.to_arrow())
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM rows_in")  # noqa: S608 (the names above)
            con.unregister("rows_in")
    return store


def _by_hand(rep: int | None, start: date, end: date) -> dict[str, float]:
    """Velocity worked out from DEALS with nothing but the definitions."""
    t0, t1 = datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.min.time()) + timedelta(1)
    mine = [d for d in DEALS if rep is None or d[0] == rep]
    closed = [d for d in mine if d[2] and t0 <= _at(d[2]) < t1]
    won = [d for d in closed if d[3]]
    open_ = [d for d in mine if _at(d[1]) < t1 and (not d[2] or _at(d[2]) >= t1)]
    avg_won = statistics.mean(d[4] for d in won)
    cycle = statistics.mean((_at(d[2]) - _at(d[1])).total_seconds() / 86_400 for d in won)
    return {"open_deals": len(open_), "closed": len(closed), "won": len(won), "avg_won": avg_won,
            "avg_cycle_days": cycle, "velocity_per_day": len(open_) * len(won) / len(closed) * avg_won / cycle}


@pytest.mark.parametrize(("actor", "rep"), [(ADMIN, None), (RITA, RITA_ID)])
def test_velocity_on_a_tiny_store_matches_the_hand_computation(tiny: Store, actor: Actor, rep: int | None) -> None:
    row = revenue.velocity(tiny, actor, *JUNE)["velocity"].row(0, named=True)
    expected = _by_hand(rep, *JUNE)
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key
    assert row["group"] == revenue.ALL


def test_a_rep_sees_only_their_own_deals_in_every_figure(tiny: Store) -> None:
    mine = revenue.velocity(tiny, RITA, *QUARTER, by="rep")
    assert mine["velocity"]["rep_id"].to_list() == [RITA_ID]
    assert set(mine["stages"]["rep_id"]) == set(mine["conversion"]["rep_id"]) == set(mine["trend"]["rep_id"]) == {
        RITA_ID}
    everyone = revenue.velocity(tiny, ADMIN, *QUARTER, by="rep")["velocity"]
    assert everyone["group"].to_list() == ["Rita Rep", "Sam Seller"]
    assert_frame_equal(mine["velocity"], everyone.filter(pl.col("rep_id") == RITA_ID))
    wl = revenue.win_loss(tiny, RITA, *JUNE)
    assert wl["competitors"]["competitor"].to_list() == ["Stripe"]
    assert wl["segments"].filter(pl.col("dimension") == "vertical")["segment"].to_list() == ["retail"]


def test_stage_durations_and_conversion_count_the_stays_that_ended_in_the_period(tiny: Store) -> None:
    out = revenue.velocity(tiny, RITA, *QUARTER)
    t0, t1 = datetime(2026, 4, 1), datetime(2026, 7, 1)
    stays = [s for d in DEALS if d[0] == RITA_ID for s in _stays(d) if t0 <= s[2] < t1]
    for row in out["stages"].iter_rows(named=True):
        days = [(left - entered).total_seconds() / 86_400 for stage, entered, left, _ in stays
                if stage == row["stage"]]
        assert row["n"] == len(days)
        assert row["median_days"] == pytest.approx(statistics.median(days))
        assert row["p75_days"] == pytest.approx(statistics.quantiles(days, n=4, method="inclusive")[2])
    disc = out["conversion"].row(0, named=True)
    left = [s for s in stays if s[0] == "discovery"]
    assert disc["n"] == len(left) and disc["moved"] == sum(s[3] == "proposal" for s in left)


def test_win_rates_by_competitor_carry_the_wilson_interval(tiny: Store) -> None:
    wl = revenue.win_loss(tiny, ADMIN, *JUNE)
    stripe = wl["competitors"].filter(pl.col("competitor") == "Stripe").row(0, named=True)
    assert (stripe["closed"], stripe["won"]) == (11, 6)
    lo, hi = proportion_confint(6, 11, alpha=0.05, method="wilson")
    assert stripe["rate"] == pytest.approx(6 / 11)
    assert stripe["lo"] == pytest.approx(lo) and stripe["hi"] == pytest.approx(hi)
    assert stripe["few"] and "early sign" in stripe["note"]
    overall = wl["overall"].row(0, named=True)
    assert (overall["closed"], overall["won"], overall["lost"]) == (22, 12, 10)
    june = wl["reasons"].filter(pl.col("month") == date(2026, 6, 1))
    assert dict(zip(june["reason"], june["deals"], strict=True)) == {"price": 12, "timing": 10}
    assert june["share"].to_list() == [1.0, 1.0]
    assert "associated with" in wl["note"]


def test_phase3_targets_compare_the_last_90_days_with_the_90_before_with_n_on_each_side(tiny: Store) -> None:
    targets = revenue.phase3_targets(tiny, RITA, NOW)
    assert targets["key"].to_list() == ["deal_velocity", "deal_size", "forecast_accuracy"]
    size = targets.row(1, named=True)
    assert (size["n_current"], size["n_baseline"]) == (6, 2)
    assert size["current"] == pytest.approx(10_000) and size["baseline"] == pytest.approx(5_000)
    assert size["change"] == pytest.approx(1.0) and size["status"] == "met"
    assert size["few"] and size["note"].startswith(revenue.EARLY)
    cycle = targets.row(0, named=True)
    assert cycle["current"] == pytest.approx(185 / 6) and cycle["baseline"] == pytest.approx(30.0)
    assert cycle["status"] == "not met" and cycle["change_lo"] < cycle["change"] < cycle["change_hi"]
    forecast = targets.row(2, named=True)
    assert forecast["status"] == "nothing measured" and "backtest" in forecast["note"]
    measured = revenue.phase3_targets(tiny, RITA, NOW, lambda s, a, n: {"share_within_5pct": 0.92, "n": 36})
    assert measured.row(2, named=True)["status"] == "met" and measured.row(2, named=True)["note"] == ""


def test_a_period_backwards_or_an_unknown_split_is_refused_with_how_to_fix_it(tiny: Store) -> None:
    with pytest.raises(revenue.RevenueError, match="pick a start on or before the end"):
        revenue.velocity(tiny, ADMIN, date(2026, 6, 30), date(2026, 6, 1))
    with pytest.raises(revenue.RevenueError, match="team, rep or vertical"):
        revenue.velocity(tiny, ADMIN, *JUNE, by="region")


def test_the_velocity_refresh_stores_one_audited_run_that_a_rep_reads_recomputed_in_their_scope(
        tiny: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "copy.duckdb")
    store.path.write_bytes(tiny.path.read_bytes())
    assert revenue.latest_velocity(store, ADMIN)["as_of"] is None and store.scalar("fresh_velocity") is None
    result = revenue.refresh_velocity(store, NOW)
    assert store.scalar("fresh_velocity") == NOW
    assert result["rows_written"] == 1 and result["deals"] == len(DEALS)
    with store.read() as con:
        runs = con.execute("SELECT kind, as_of, payload FROM analytics_runs").fetchall()
        trail = con.execute("SELECT actor, action, entity, entity_id FROM audit_log").fetchall()
    assert [(k, a) for k, a, _ in runs] == [("velocity", NOW)] and json.loads(runs[0][2])["by"]["team"]
    assert trail == [("scheduler", "refresh", "analytics_run", str(result["run_id"]))]

    start = NOW.date() - timedelta(days=revenue.TARGET_DAYS - 1)
    stored = revenue.latest_velocity(store, ADMIN)
    assert not stored["scoped"] and stored["period"] == (start, NOW.date())
    for by in ("all", "team", "rep", "vertical"):
        fresh = revenue.velocity(store, ADMIN, start, NOW.date(), None if by == "all" else by)
        for name in ("velocity", "stages", "conversion"):
            assert_frame_equal(stored["by"][by][name], fresh[name])
    assert stored["by"]["all"]["trend"]["month"].min() == date(2025, 7, 1)

    mine = revenue.latest_velocity(store, RITA)
    assert mine["scoped"] and mine["as_of"] == NOW
    assert mine["by"]["rep"]["velocity"]["rep_id"].to_list() == [RITA_ID]
    assert_frame_equal(mine["by"]["all"]["velocity"], revenue.velocity(store, RITA, start, NOW.date())["velocity"])

    monkeypatch.setattr(revenue, "KEEP_RUNS", 1)  # the next refresh deletes the runs before it
    later = NOW + timedelta(hours=1)
    assert revenue.refresh_velocity(store, later)["pruned"] == 1
    assert store.scalar("fresh_velocity") == later and revenue.latest_velocity(store, ADMIN)["as_of"] == later


def test_on_the_demo_a_rep_and_a_manager_see_the_deals_of_their_scope(demo_store: Store) -> None:
    rep, manager = resolve_actor(demo_store, "rep"), resolve_actor(demo_store, "manager")
    start, end = NOW.date() - timedelta(days=89), NOW.date()
    with demo_store.read() as con:
        (closed,) = con.execute("SELECT count(*) FROM opportunities WHERE owner_id = ? AND closed_at >= ? AND "
                                "closed_at < ?", [rep.rep_id, start, end + timedelta(days=1)]).fetchone()
    assert revenue.velocity(demo_store, rep, start, end)["velocity"]["closed"].to_list() == [closed]
    by_rep = revenue.velocity(demo_store, manager, start, end, by="rep")["velocity"]
    assert set(by_rep["rep_id"]) <= set(manager.scope_reps) and rep.rep_id in set(by_rep["rep_id"])
    everyone = revenue.win_loss(demo_store, ADMIN, start, end)["overall"]["closed"][0]
    assert closed < revenue.win_loss(demo_store, manager, start, end)["overall"]["closed"][0] < everyone
