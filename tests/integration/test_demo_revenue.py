"""The demo's Phase 3 deal history in a real store: every deal's stage path is ordered, inside its life and ends
where the deal stands; every closed deal has its reason; the details carry the structure the analyses look for."""

from __future__ import annotations

import polars as pl
import pytest

from flashdash import demo_revenue
from flashdash.store import Store
from tests.conftest import NOW


def _frame(store: Store, sql: str, *params: object) -> pl.DataFrame:
    with store.read() as con:
        return con.sql(sql, params=list(params) or None).pl()


@pytest.fixture(scope="module")
def stage_paths(demo_store: Store) -> pl.DataFrame:
    """Each stage change with the one before it and its deal's life."""
    return _frame(demo_store, """
        SELECT c.opportunity_id, c.from_value, c.to_value, c.changed_at, o.created_at, o.closed_at, o.stage,
               lag(c.to_value) OVER w AS previous, lag(c.changed_at) OVER w AS previous_at,
               row_number() OVER w AS step, count(*) OVER (PARTITION BY c.opportunity_id) AS steps
        FROM opportunity_changes c JOIN opportunities o ON o.id = c.opportunity_id
        WHERE c.field = 'stage'
        WINDOW w AS (PARTITION BY c.opportunity_id ORDER BY c.changed_at, c.id)""")


def test_every_deal_has_a_stage_path_that_starts_in_discovery_at_its_creation(demo_store: Store,
                                                                            stage_paths: pl.DataFrame) -> None:
    (deals,) = _frame(demo_store, "SELECT count(*) FROM opportunities").row(0)
    first = stage_paths.filter(pl.col("step") == 1)
    assert first.height == deals > 200
    assert first["from_value"].is_null().all() and (first["to_value"] == "discovery").all()
    assert (first["changed_at"] == first["created_at"]).all()


def test_stage_timestamps_are_ordered_chained_and_within_the_deals_life(stage_paths: pl.DataFrame) -> None:
    later = stage_paths.filter(pl.col("step") > 1)
    assert (later["from_value"] == later["previous"]).all()
    assert (later["changed_at"] >= later["previous_at"]).all()
    end = pl.coalesce("closed_at", pl.lit(NOW))
    assert stage_paths.filter((pl.col("changed_at") < pl.col("created_at")) | (pl.col("changed_at") > end)).is_empty()
    order = {"discovery": 1, "proposal": 2, "negotiation": 3, "closed_won": 4, "closed_lost": 4}
    ranks = later.select(pl.col("previous").replace_strict(order), pl.col("to_value").replace_strict(order))
    assert (ranks["to_value"] > ranks["previous"]).all()  # forward only


def test_each_path_ends_in_the_stage_the_deal_stands_in_and_a_close_at_its_close(stage_paths: pl.DataFrame) -> None:
    last = stage_paths.filter(pl.col("step") == pl.col("steps"))
    assert (last["to_value"] == last["stage"]).all()
    closed = last.filter(pl.col("closed_at").is_not_null())
    assert closed.height > 100 and (closed["changed_at"] == closed["closed_at"]).all()
    won = closed.filter(pl.col("stage") == "closed_won")
    assert (won["previous"] == "negotiation").all()
    lost_at = set(closed.filter(pl.col("stage") == "closed_lost")["previous"])
    assert lost_at == {"discovery", "proposal", "negotiation"}


def test_every_closed_deal_has_its_reason_and_every_deal_its_details(demo_store: Store) -> None:
    deals = _frame(demo_store, "SELECT * FROM opportunities")
    won = deals.filter(pl.col("won").fill_null(False))
    lost = deals.filter(pl.col("closed_at").is_not_null() & ~pl.col("won").fill_null(False))
    assert won["win_reason"].null_count() == 0 and won["loss_reason"].null_count() == won.height
    assert lost["loss_reason"].null_count() == 0 and lost["win_reason"].null_count() == lost.height
    assert set(won["win_reason"]) <= set(demo_revenue.WIN_REASONS)
    assert set(deals["competitor"]) == set(demo_revenue.COMPETITORS)
    assert (lost.filter(pl.col("loss_reason") == "competitor")["competitor"] != "none").all()
    assert deals["discount_pct"].is_between(0, 30).all() and deals["contacts"].is_between(1, 5).all()
    products = deals["products"].str.split(",")
    assert (products.list.first() == "payments").all()
    assert set(products.explode()) == set(demo_revenue.PRODUCTS)


def test_close_date_pushes_chain_to_the_expected_close_the_deal_carries(demo_store: Store) -> None:
    pushes = _frame(demo_store, """
        SELECT c.opportunity_id, c.from_value::DATE AS old, c.to_value::DATE AS new, c.changed_at,
               o.expected_close, o.created_at, coalesce(o.closed_at, ?) AS ended,
               lead(c.from_value::DATE) OVER w AS next_old,
               row_number() OVER w = count(*) OVER (PARTITION BY c.opportunity_id) AS last
        FROM opportunity_changes c JOIN opportunities o ON o.id = c.opportunity_id
        WHERE c.field = 'expected_close'
        WINDOW w AS (PARTITION BY c.opportunity_id ORDER BY c.changed_at, c.id)""", NOW)
    assert pushes.height > 20 and (pushes["new"] > pushes["old"]).all()
    assert (pushes.filter("last")["new"] == pushes.filter("last")["expected_close"]).all()
    chained = pushes.filter(~pl.col("last"))
    assert (chained["new"] == chained["next_old"]).all()
    assert pushes["changed_at"].is_between(pushes["created_at"], pushes["ended"]).all()
    assert pushes.group_by("opportunity_id").len()["len"].max() <= 3


def test_the_details_carry_the_associations_the_analyses_should_find(demo_store: Store) -> None:
    closed = _frame(demo_store, """
        SELECT o.won::INT AS won, o.contacts = 1 AS single, o.competitor,
               EXISTS (SELECT 1 FROM opportunity_changes c WHERE c.opportunity_id = o.id
                       AND c.field = 'expected_close') AS pushed
        FROM opportunities o WHERE o.closed_at IS NOT NULL""")
    rate = {k: closed.group_by(k).agg(pl.col("won").mean()).sort(k)["won"].to_list() for k in ("single", "pushed")}
    assert rate["single"][1] < rate["single"][0] - 0.1  # single-contact deals lose more
    assert rate["pushed"][1] < rate["pushed"][0] - 0.1  # pushed deals lose more
    by_rival = dict(closed.group_by("competitor").agg(pl.col("won").mean()).iter_rows())
    assert by_rival["none"] > max(by_rival["Stripe"], by_rival["Adyen"])
    (corr,) = _frame(demo_store, "SELECT corr(discount_pct, ln(amount)) FROM opportunities").row(0)
    assert corr > 0.3  # larger deals negotiate more
