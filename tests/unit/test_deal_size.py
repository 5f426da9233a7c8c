from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from flashdash.deal_size import MIN_SIMILAR, MIN_WON, NOT_ENOUGH_SIMILAR, analyse, compare


def _open(**cols) -> pl.DataFrame:
    base = {"opportunity_id": [1, 2, 3, 4], "lead_id": [11, 12, 13, 14], "owner_id": [5, 5, 5, 5],
            "amount": [1_000.0, 5_000.0, 9_000.0, 4_000.0], "stage": ["proposal"] * 4,
            "merchant_name": ["A", "B", "C", "D"], "vertical": ["retail"] * 3 + [None],
            "company_size": ["1-10"] * 4, "monthly_volume": [50_000.0] * 4, "rep": ["Ann"] * 4,
            "similar_won": [MIN_SIMILAR, MIN_SIMILAR + 5, 40, MIN_SIMILAR - 1],
            "p25": [3_000.0, 3_000.0, 3_000.0, 3_000.0], "p50": [4_000.0] * 4, "p75": [6_000.0] * 4}
    return pl.DataFrame({**base, **cols})


def test_an_open_deal_below_the_similar_won_deals_middle_half_is_under_sized_by_the_gap_to_its_bottom() -> None:
    out = compare(_open())
    by_id = {r["opportunity_id"]: r for r in out.iter_rows(named=True)}
    assert by_id[1]["status"] == "under-sized" and by_id[1]["gap"] == 2_000.0
    assert (by_id[1]["recommended_low"], by_id[1]["recommended_high"]) == (3_000.0, 6_000.0)
    assert by_id[1]["wording"] == "Under-sized by $2,000: $1,000 against 20 similar won deals, middle half $3,000–$6,000."
    assert by_id[2]["status"] == "within range" and by_id[2]["gap"] < 0
    assert by_id[3]["status"] == "above range"
    assert out["opportunity_id"].to_list()[0] == 1  # under-sized first


def test_below_twenty_similar_won_deals_no_range_is_recommended() -> None:
    row = compare(_open()).filter(pl.col("opportunity_id") == 4).row(0, named=True)
    assert row["status"] == NOT_ENOUGH_SIMILAR
    assert row["recommended_low"] is None and row["recommended_high"] is None and row["gap"] is None
    assert row["wording"] == "Not enough similar deals: the deal's vertical is not recorded."


def _won(n: int, seed: int = 1) -> pl.DataFrame:
    """Won deals whose amount is 1% of a year's volume, 25% more with point of sale, 5% less per 5 points of
    discount, noise of 10%."""
    rng = np.random.default_rng(seed)
    volume = np.exp(rng.normal(11, 1, n))
    pos = rng.random(n) < 0.5
    discount = rng.uniform(0, 20, n)
    amount = volume * 0.12 * np.exp(np.log(1.25) * pos + np.log(0.95) / 5 * discount + rng.normal(0, 0.1, n))
    return pl.DataFrame({
        "opportunity_id": range(n), "amount": amount,
        "closed_at": [datetime(2025, 1, 1) + timedelta(days=int(d)) for d in range(n)],
        "vertical": rng.choice(["retail", "restaurants"], n), "company_size": rng.choice(["1-10", "11-50"], n),
        "monthly_volume": volume, "products": np.where(pos, "payments,pos", "payments"), "discount_pct": discount})


def _effect(result: dict, factor: str, level: str) -> dict:
    return result["coefficients"].filter((pl.col("factor") == factor) & (pl.col("level") == level)).row(0, named=True)


def test_the_drivers_recover_known_effects_as_percentages_with_intervals_around_them() -> None:
    result = analyse(_won(400))
    pos = _effect(result, "product", "pos")
    assert pos["ci_low_pct"] < 25 < pos["ci_high_pct"] and pos["verdict"] == "associated with larger deals"
    discount = _effect(result, "discount", "per 5 points")
    assert discount["ci_low_pct"] < -5 < discount["ci_high_pct"] and discount["verdict"] == "associated with smaller deals"
    volume = _effect(result, "monthly volume", "per doubling")
    assert volume["ci_low_pct"] < 100 < volume["ci_high_pct"]
    vertical = result["coefficients"].filter(pl.col("factor") == "vertical").row(0, named=True)  # one of two: noise
    assert vertical["verdict"] == "no clear association" and "No clear association" in vertical["wording"]
    assert "associated with larger won amounts" in pos["wording"] and "n = 400 won deals" in pos["wording"]
    assert result["n"] == 400 and result["r2"] > 0.9 and result["not_recorded"] == []
    assert result["evaluation"]["beats_baseline"] is True


def test_the_number_of_products_gets_its_own_fit_and_payments_in_every_deal_gets_no_estimate() -> None:
    result = analyse(_won(400))
    assert _effect(result, "products", "per additional product")["ci_low_pct"] > 0
    assert result["coefficients"].filter(pl.col("level") == "payments").is_empty()


def test_below_the_minimum_of_won_deals_it_says_not_enough_data() -> None:
    result = analyse(_won(MIN_WON - 1))
    assert result["coefficients"].is_empty() and result["r2"] is None
    assert result["why"] == f"Not enough data: {MIN_WON - 1} won deals; the model needs {MIN_WON}."


def test_a_store_without_products_or_discounts_leaves_them_out_and_says_so() -> None:
    won = _won(200).with_columns(products=pl.lit(None, pl.String), discount_pct=pl.lit(None, pl.Float64))
    result = analyse(won)
    assert result["not_recorded"] == ["products", "discount"]
    assert set(result["coefficients"]["factor"]) == {"vertical", "company size", "monthly volume"}
    assert result["coefficients"]["effect_pct"].is_not_null().all()


@pytest.mark.parametrize("n", [0, 1])
def test_almost_no_won_deals_is_not_an_error(n: int) -> None:
    assert analyse(_won(n))["why"].startswith("Not enough data")
