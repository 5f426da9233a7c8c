"""Activity effectiveness: adjusted odds ratios with intervals on the XS demo, and on hand-made stores where the
truth is known: calls that really raise the win rate, and calls whose raw association is lead quality alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.effectiveness import NO_CLEAR, NOT_ENOUGH, effectiveness
from flashdash.store import Store
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
CALLS = "a call in the first week"
WON = "won within 90 days"


def _estimated(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("odds_ratio").is_not_null())


def test_on_the_demo_every_estimate_sits_inside_its_interval_and_nothing_is_called_a_cause(demo_store: Store) -> None:
    result = effectiveness(demo_store, ADMIN, NOW)
    frame = result["frame"]
    assert set(frame["outcome"]) == {"reached the next stage within 30 days", WON}
    estimated = _estimated(frame)
    assert estimated.height >= 6
    assert (estimated["ci_low"] < estimated["odds_ratio"]).all() and (estimated["odds_ratio"] < estimated["ci_high"]).all()
    assert estimated["p_value"].is_between(0, 1).all()
    includes_one = (estimated["ci_low"] <= 1) & (estimated["ci_high"] >= 1)
    assert (estimated.filter(includes_one)["verdict"] == NO_CLEAR).all()
    assert (estimated.filter(~includes_one)["verdict"] != NO_CLEAR).all()
    text = " ".join(frame["wording"].to_list() + [result["note"]]).lower()
    assert "cause" not in text and "associated with" in text and "followed by" in text
    assert "reps choose whom to call" in result["note"].lower()
    # outcome windows: only leads submitted at least 30 / 90 days before now are counted
    assert result["dates"]["won_90d"]["submitted_to"] == NOW - timedelta(days=90)
    with demo_store.read() as con:
        old = con.execute("SELECT count(*) FROM leads WHERE submitted_at <= ?", [NOW - timedelta(days=90)]).fetchone()
    assert result["n"]["won_90d"] == old[0] < result["n"]["progressed_30d"]


def test_a_rep_reads_their_own_book_and_an_executive_does_not_read_it(demo_store: Store) -> None:
    rep = resolve_actor(demo_store, "rep")
    mine = effectiveness(demo_store, rep, NOW)
    with demo_store.read() as con:
        owned = con.execute("SELECT count(*) FROM leads WHERE owner_id = ? AND submitted_at <= ?",
                            [rep.rep_id, NOW - timedelta(days=30)]).fetchone()[0]
    assert mine["n"]["progressed_30d"] == owned
    with pytest.raises(AccessDenied):
        effectiveness(demo_store, Actor("exec", "E", "executive"), NOW)


# ---------------------------------------------------------------- hand-made stores with a known truth


INTEREST = np.array(["cold", "warm", "hot"])


def _store(path: Path, *, n: int, call_by_interest: tuple[float, float, float],
           win_logit_by_interest: tuple[float, float, float], call_effect: float, seed: int) -> Store:
    """Leads of three interest levels (and random channel, vertical, size and volume, unrelated to anything);
    a call in the first week with a probability set by interest; a win within 90 days with a log-odds set by
    interest plus `call_effect` for a lead that had the call."""
    rng = np.random.default_rng(seed)
    level = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    called = rng.random(n) < np.array(call_by_interest)[level]
    logit = np.array(win_logit_by_interest)[level] + call_effect * called
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = datetime(2024, 1, 1)
    submitted = [start + timedelta(minutes=int(m)) for m in rng.integers(0, 700 * 24 * 60, n)]
    call_at = [s + timedelta(hours=float(h)) for s, h in zip(submitted, rng.uniform(2, 150, n), strict=True)]
    won_at = [s + timedelta(days=float(d)) for s, d in zip(submitted, rng.uniform(10, 85, n), strict=True)]
    ids = np.arange(1, n + 1)
    leads = pl.DataFrame({
        "id": ids, "submitted_at": submitted, "first_response_at": [c if k else None for c, k in zip(call_at, called,
                                                                                                   strict=True)],
        "status": np.where(won, "won", "lost"), "owner_id": 1, "interest_level": INTEREST[level],
        "channel": rng.choice(["organic_search", "paid_search", "referral"], n),
        "vertical": rng.choice(["retail", "restaurants"], n), "company_size": rng.choice(["1-10", "11-50"], n),
        "monthly_volume": np.exp(rng.normal(11, 1, n)),
    })
    calls = pl.DataFrame({"lead_id": ids[called], "rep_id": 1, "type": "call",
                          "occurred_at": [c for c, k in zip(call_at, called, strict=True) if k]})
    wins = pl.DataFrame({"lead_id": ids[won], "from_status": "opportunity", "to_status": "won", "actor": "Rita",
                         "changed_at": [w for w, k in zip(won_at, won, strict=True) if k]})
    store = Store(path)
    store.ensure_schema(NOW)
    with store.write() as con:
        con.register("leads_in", leads.to_arrow())
        con.execute("INSERT INTO leads BY NAME SELECT * FROM leads_in")
        con.register("calls_in", calls.to_arrow())
        con.execute("INSERT INTO activities BY NAME SELECT * FROM calls_in")
        con.register("wins_in", wins.to_arrow())
        con.execute("INSERT INTO lead_stage_changes BY NAME SELECT * FROM wins_in")
    return store


def _calls_and_wins(store: Store) -> dict:
    frame = effectiveness(store, ADMIN, NOW)["frame"]
    return frame.filter((pl.col("outcome") == WON) & (pl.col("factor") == CALLS)).row(0, named=True)


def test_calls_that_truly_raise_the_win_rate_show_an_interval_above_one_after_controlling_for_interest(
        tmp_path: Path) -> None:
    store = _store(tmp_path / "true.duckdb", n=3000, call_by_interest=(0.3, 0.5, 0.8),
                   win_logit_by_interest=(-3.0, -2.0, -1.0), call_effect=0.9, seed=11)
    row = _calls_and_wins(store)
    assert row["ci_low"] > 1 and row["verdict"] == "associated with more"
    assert row["ci_low"] < np.exp(0.9) < row["ci_high"]  # the true odds ratio, 2.46, is inside the interval
    assert row["n"] == 3000 and "associated with higher odds" in row["wording"]


def test_a_raw_association_made_by_lead_quality_alone_has_an_adjusted_interval_that_includes_one(
        tmp_path: Path) -> None:
    store = _store(tmp_path / "confounded.duckdb", n=3000, call_by_interest=(0.15, 0.5, 0.9),
                   win_logit_by_interest=(-3.5, -2.0, -0.5), call_effect=0.0, seed=12)
    row = _calls_and_wins(store)
    assert row["rate_with"] > 2 * row["rate_without"]  # raw: called leads win far more often
    assert row["ci_low"] <= 1 <= row["ci_high"] and row["verdict"] == NO_CLEAR
    assert row["wording"].startswith("No clear association")


def test_too_few_leads_read_not_enough_leads_instead_of_a_noisy_number(tmp_path: Path) -> None:
    store = _store(tmp_path / "small.duckdb", n=150, call_by_interest=(0.3, 0.5, 0.8),
                   win_logit_by_interest=(-1.0, -0.5, 0.0), call_effect=0.9, seed=13)
    frame = effectiveness(store, ADMIN, NOW)["frame"]
    assert (frame["verdict"] == NOT_ENOUGH).all() and frame["odds_ratio"].is_null().all()
    assert "Not enough leads to say: 150 leads" in frame.filter(pl.col("outcome") == WON)["wording"][0]
