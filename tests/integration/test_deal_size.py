"""Deal size: which won deals count as similar on a hand-made store, and the drivers and under-sized deals on the
XS demo."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from flashdash import deal_size
from flashdash.access import Actor, resolve_actor
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
SIMILAR = 25


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Open deal 1 (Ann's, $1,000): a retail merchant of 1-10 people with $10,000 a month. 25 similar won deals
    ($100 to $2,500, volumes $5,000 to $20,000), and won deals that are not similar: twice and a bit the volume,
    another vertical, another size, won after now; a similar deal that was lost. Open deal 2 is Bob's."""
    store = Store(Path(tmp_path_factory.mktemp("size")) / "tiny.duckdb")
    store.ensure_schema(NOW)
    leads, opps = [], []

    def deal(vertical: str, size: str, volume: float, amount: float, won: bool | None, closed: datetime | None,
             owner: int = 1) -> None:
        i = len(leads) + 1
        leads.append({"id": i, "merchant_name": f"M{i}", "vertical": vertical, "company_size": size,
                      "monthly_volume": volume, "submitted_at": NOW - timedelta(days=200), "owner_id": owner,
                      "status": "opportunity"})
        opps.append({"id": i, "lead_id": i, "owner_id": owner, "amount": amount, "won": won, "closed_at": closed,
                     "stage": "proposal" if closed is None else "closed_won" if won else "closed_lost",
                     "created_at": NOW - timedelta(days=100)})

    deal("retail", "1-10", 10_000, 1_000.0, None, None)
    deal("retail", "1-10", 10_000, 1_000.0, None, None, owner=2)
    volumes = np.linspace(5_000, 20_000, SIMILAR)
    for k in range(SIMILAR):
        deal("retail", "1-10", float(volumes[k]), 100.0 * (k + 1), True, NOW - timedelta(days=10 + k))
    past = NOW - timedelta(days=5)
    deal("retail", "1-10", 20_001, 9_999.0, True, past)
    deal("restaurants", "1-10", 10_000, 9_999.0, True, past)
    deal("retail", "11-50", 10_000, 9_999.0, True, past)
    deal("retail", "1-10", 10_000, 9_999.0, True, NOW + timedelta(days=1))
    deal("retail", "1-10", 10_000, 9_999.0, False, past)
    with store.write() as con:
        stored.insert(con, "reps", [{"id": i, "name": n, "title": "rep", "active": True, "monthly_quota": 0.0}
                              for i, n in ((1, "Ann"), (2, "Bob"))])
        stored.insert(con, "leads", leads)
        stored.insert(con, "opportunities", opps)
    return store


def test_similar_won_deals_share_vertical_and_size_and_are_within_half_to_twice_the_volume(tiny: Store) -> None:
    ann = Actor("ann", "Ann", "rep", rep_id=1, scope_reps=(1,))
    out = deal_size.undersized(tiny, ann, NOW)
    assert out["opportunity_id"].to_list() == [1]  # Bob's deal is not Ann's to see
    row = out.row(0, named=True)
    amounts = 100.0 * np.arange(1, SIMILAR + 1)
    assert row["similar_won"] == SIMILAR
    assert row["recommended_low"] == pytest.approx(np.quantile(amounts, 0.25))
    assert row["recommended_high"] == pytest.approx(np.quantile(amounts, 0.75))
    assert row["status"] == "within range" and row["gap"] == pytest.approx(np.quantile(amounts, 0.25) - 1_000)


def test_the_drivers_of_a_scope_with_few_won_deals_say_not_enough_data(tiny: Store) -> None:
    out = deal_size.drivers(tiny, ADMIN, NOW)
    assert out["n"] == SIMILAR + 3 and out["why"].startswith("Not enough data")


@pytest.fixture(scope="module")
def drivers(demo_store: Store) -> dict[str, Any]:
    return deal_size.drivers(demo_store, ADMIN, NOW)


def test_on_the_demo_bigger_merchants_go_with_bigger_won_deals_judged_out_of_time(demo_store: Store,
                                                                                  drivers: dict[str, Any]) -> None:
    with demo_store.read() as con:
        (won,) = con.execute("SELECT count(*) FROM opportunities WHERE won AND closed_at <= ?", [NOW]).fetchone()
    assert drivers["n"] == won and 0 < drivers["r2"] <= 1 and drivers["not_recorded"] == []
    volume = drivers["coefficients"].filter(pl.col("factor") == "monthly volume").row(0, named=True)
    assert volume["verdict"] == "associated with larger deals" and volume["ci_low_pct"] > 50
    assert drivers["evaluation"]["beats_baseline"] is True
    assert drivers["evaluation"]["median_abs_pct_error"] < drivers["evaluation"]["baseline_median_abs_pct_error"]
    c = drivers["coefficients"]
    assert ((c["ci_low_pct"] < c["effect_pct"]) & (c["effect_pct"] < c["ci_high_pct"])).all()
    assert {"product", "products", "discount"} <= set(c["factor"])
    assert all("associated with" in w or "No clear association" in w for w in c["wording"])


def test_on_the_demo_every_open_deal_is_compared_and_a_rep_sees_only_theirs(demo_store: Store) -> None:
    everyone = deal_size.undersized(demo_store, ADMIN, NOW)
    with demo_store.read() as con:
        (open_deals,) = con.execute("SELECT count(*) FROM opportunities WHERE closed_at IS NULL").fetchone()
    assert everyone.height == open_deals
    ranged = everyone.filter(pl.col("status") != deal_size.NOT_ENOUGH_SIMILAR)
    assert (ranged["similar_won"] >= deal_size.MIN_SIMILAR).all()
    thin = everyone.filter(pl.col("status") == deal_size.NOT_ENOUGH_SIMILAR)
    assert thin["recommended_low"].is_null().all() and (thin["similar_won"] < deal_size.MIN_SIMILAR).all()
    rep = resolve_actor(demo_store, "rep")
    assert set(deal_size.undersized(demo_store, rep, NOW)["owner_id"]) <= {rep.rep_id}
