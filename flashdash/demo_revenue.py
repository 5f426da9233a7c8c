"""The demo's Phase 3 deal history: what each deal closed with, and how it moved.

For every opportunity the demo just wrote, drawn from the seed (numpy) and written in the demo's unit of work:
- the competitor the merchant weighed (none, Stripe, Adyen, Square, a local bank): Square among small shops and
  restaurants, Stripe in e-commerce, Adyen with big merchants and in travel and hospitality, a local bank where
  relationships count. Deals lost to a competitor name one; Adyen and Stripe are met more often in lost deals;
- why a won deal was won (the lost ones keep the loss reason the demo gave them);
- the discount off list price, 0-30%, larger deals negotiating more;
- the products: payments always, point of sale, payouts, invoicing and lending with chances by vertical, more of
  them on larger deals;
- the people engaged on the merchant's side, 1-5, more at bigger merchants; single-contact deals lose more;
- the deal's stage path in opportunity_changes: created in discovery, then proposal, negotiation and the close
  (a lost deal may end at any stage), at times between its creation and its close (open deals: now, in the stage
  the demo gave them); and its expected close pushed 1-3 times for some deals, more often for those lost.

The outcome, amount, creation and close of each deal are the demo's (flashdash.demo); this module only explains
them, so the time a deal spends in each stage is its cycle split in proportions drawn per deal. These are the
demo's assumptions, not findings: the analyses compute from the rows as they would from real ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from flashdash.entities import COMPANY_SIZES
from flashdash.store import Store

STREAM = 20  # the demo's random streams 1-9 are flashdash.demo's; this module draws from [seed, STREAM, part]
DAY = 86_400
HOUR = 3_600

COMPETITORS = ("none", "Stripe", "Adyen", "Square", "a local bank")
# P(competitor) by vertical, before the size and outcome tilts below
COMPETITOR_MIX = {
    "restaurants": (0.30, 0.10, 0.05, 0.40, 0.15),
    "retail": (0.30, 0.12, 0.08, 0.35, 0.15),
    "e-commerce": (0.25, 0.50, 0.15, 0.05, 0.05),
    "health & beauty": (0.35, 0.10, 0.03, 0.37, 0.15),
    "professional services": (0.40, 0.20, 0.05, 0.10, 0.25),
    "hospitality": (0.30, 0.10, 0.25, 0.15, 0.20),
    "automotive": (0.35, 0.08, 0.07, 0.20, 0.30),
    "education": (0.45, 0.20, 0.05, 0.10, 0.20),
    "fitness": (0.35, 0.15, 0.05, 0.35, 0.10),
    "grocery": (0.30, 0.05, 0.15, 0.25, 0.25),
    "travel": (0.25, 0.30, 0.35, 0.02, 0.08),
    "entertainment": (0.35, 0.20, 0.10, 0.25, 0.10),
}
COMPETITOR_DEFAULT = (0.33, 0.20, 0.12, 0.20, 0.15)  # vertical not given
# by company size (COMPANY_SIZES, then unknown): Adyen courts the big merchants, Square the small ones
COMPETITOR_SIZE = np.array([
    (1.3, 1.0, 0.3, 1.4, 1.0),
    (1.1, 1.1, 0.6, 1.1, 1.0),
    (0.9, 1.1, 1.2, 0.7, 1.1),
    (0.7, 1.0, 2.2, 0.4, 1.2),
    (0.5, 0.9, 3.5, 0.2, 1.3),
    (1.0, 1.0, 1.0, 1.0, 1.0),
])
COMPETITOR_LOST = np.array([0.7, 1.3, 1.5, 1.1, 0.9])  # how much more often each is met in a lost deal

WIN_REASONS = ("product fit", "price", "relationship", "onboarding speed", "integrations", "support")
WIN_P = np.array([0.26, 0.22, 0.18, 0.12, 0.12, 0.10])
WIN_VS_RIVAL = np.array([1.0, 1.6, 0.7, 1.0, 1.3, 1.0])  # beating a named competitor is more often on price

PRODUCTS = ("payments", "pos", "payouts", "invoicing", "lending")  # payments always; the rest by vertical
PRODUCT_P = {
    "restaurants": (0.75, 0.25, 0.10, 0.15),
    "retail": (0.65, 0.25, 0.15, 0.15),
    "e-commerce": (0.05, 0.60, 0.30, 0.20),
    "health & beauty": (0.55, 0.20, 0.30, 0.10),
    "professional services": (0.10, 0.30, 0.75, 0.10),
    "hospitality": (0.60, 0.35, 0.35, 0.15),
    "automotive": (0.45, 0.20, 0.50, 0.20),
    "education": (0.15, 0.20, 0.65, 0.05),
    "fitness": (0.45, 0.25, 0.45, 0.10),
    "grocery": (0.70, 0.20, 0.10, 0.15),
    "travel": (0.10, 0.65, 0.40, 0.10),
    "entertainment": (0.55, 0.30, 0.20, 0.10),
}
PRODUCT_DEFAULT = (0.40, 0.30, 0.30, 0.12)
PRODUCT_SIZE_LOGIT = 0.5  # per unit of log deal size above the median: larger deals take more products

# P(1..5 contacts) by company size (then unknown), and how each count tilts in lost and won deals
CONTACTS_P = np.array([
    (0.45, 0.35, 0.15, 0.04, 0.01),
    (0.30, 0.38, 0.22, 0.08, 0.02),
    (0.18, 0.32, 0.30, 0.15, 0.05),
    (0.10, 0.25, 0.30, 0.22, 0.13),
    (0.05, 0.15, 0.30, 0.28, 0.22),
    (0.30, 0.35, 0.22, 0.09, 0.04),
])
CONTACTS_LOST = np.array([1.7, 1.0, 0.85, 0.75, 0.7])
CONTACTS_WON = np.array([0.6, 1.0, 1.1, 1.2, 1.2])

DISCOUNT_MEDIAN = 8.0  # % off list for a deal of median size
DISCOUNT_PER_LOG = 4.0  # more per unit of log deal size
DISCOUNT_NONE_P = 0.12  # deals signed at list price

STAGES = ("discovery", "proposal", "negotiation")
STAGE_SHAPE = np.array([2.0, 2.5, 3.5])  # gamma shapes: a deal's cycle splits ~25 / 31 / 44% over the stages
# where a lost deal ended (discovery, proposal, negotiation), by loss reason
LOST_AT = {
    "price": (0.10, 0.30, 0.60),
    "competitor": (0.15, 0.40, 0.45),
    "no decision": (0.30, 0.35, 0.35),
    "timing": (0.35, 0.35, 0.30),
    "missing feature": (0.45, 0.35, 0.20),
    "went dark": (0.45, 0.35, 0.20),
}
LOST_AT_DEFAULT = (0.30, 0.35, 0.35)

PUSH_P = {"won": 0.15, "lost": 0.45, "open": 0.30}  # deals whose expected close moved at least once
PUSHES_P = (0.60, 0.28, 0.12)  # of those: pushed 1, 2 or 3 times
PUSH_DAYS = (7, 36)  # each push moves the date this many days later (uniform, upper end exclusive)


def add(store: Store, con: Any, now: datetime, seed: int) -> dict[str, int]:
    """Inside the demo's write, after its opportunities: each deal's details and its changes; returns the rows
    written to opportunity_changes."""
    deals = store.frame("demo_revenue_deals", con)
    details = deal_details(deals, seed)
    changes = deal_changes(deals.join(details.select("id", "stage_lost_at"), on="id"), now, seed)
    con.register("_demo_revenue_details", details.drop("stage_lost_at"))
    con.register("_demo_revenue_changes", changes)
    try:
        store.run("demo_revenue_update", con)
        store.run("demo_revenue_insert", con)
    finally:
        con.unregister("_demo_revenue_details")
        con.unregister("_demo_revenue_changes")
    store.advance_sequence(con, "opportunity_changes")
    return {"opportunity_changes": changes.height}


# ---------------------------------------------------------------- drawing (pure: frames in, frames out)


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAM, part])


def _pick(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One category per row, drawn with probability proportional to the row's weights."""
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(weights))[:, None] > cum).sum(axis=1), weights.shape[1] - 1)


def _outcomes(deals: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    closed = deals["closed_at"].is_not_null().to_numpy()
    won = deals["won"].fill_null(False).to_numpy() & closed
    return won, closed & ~won


def _rows_by(values: pl.Series, table: dict[str, tuple[float, ...]], default: tuple[float, ...]) -> np.ndarray:
    """Each row's probability tuple from `table`, keyed by a lowercased name (`default` for others)."""
    keys = list(table)
    idx = values.str.to_lowercase().replace_strict(keys, list(range(len(keys))), default=len(keys),
                                                   return_dtype=pl.Int64).to_numpy()
    return np.array([*table.values(), default])[idx]


def _size_index(deals: pl.DataFrame) -> np.ndarray:
    return deals["company_size"].replace_strict(list(COMPANY_SIZES), list(range(len(COMPANY_SIZES))),
                                                default=len(COMPANY_SIZES), return_dtype=pl.Int64).to_numpy()


def _log_size(deals: pl.DataFrame) -> np.ndarray:
    """Log deal size relative to the median deal."""
    amount = np.maximum(deals["amount"].fill_null(0).to_numpy(), 1.0)
    return np.log(amount) - (np.median(np.log(amount)) if len(amount) else 0.0)


def deal_details(deals: pl.DataFrame, seed: int) -> pl.DataFrame:
    """id, competitor, win_reason, discount_pct, products, contacts and stage_lost_at (the stage a lost deal ended
    in, an index into STAGES) of each deal (columns of `demo_revenue_deals`)."""
    n = deals.height
    won, lost = _outcomes(deals)
    size = _size_index(deals)
    z = _log_size(deals)

    rng = _rng(seed, 1)
    mix = _rows_by(deals["vertical"].fill_null(""), COMPETITOR_MIX, COMPETITOR_DEFAULT) * COMPETITOR_SIZE[size]
    mix = np.where(lost[:, None], mix * COMPETITOR_LOST, mix)
    lost_to_rival = lost & (deals["loss_reason"].fill_null("") == "competitor").to_numpy()
    mix[lost_to_rival, 0] = 0.0
    competitor = _pick(rng, mix)

    rng = _rng(seed, 2)
    reason_w = np.where((competitor > 0)[:, None], WIN_P * WIN_VS_RIVAL, WIN_P)
    win_reason = _pick(rng, np.broadcast_to(reason_w, (n, len(WIN_P))).copy())

    rng = _rng(seed, 3)
    discount = DISCOUNT_MEDIAN + DISCOUNT_PER_LOG * z + 4.0 * rng.standard_normal(n)
    discount = np.where(rng.random(n) < DISCOUNT_NONE_P, 0.0, np.clip(np.round(discount * 2) / 2, 0.0, 30.0))

    rng = _rng(seed, 4)
    p = _rows_by(deals["vertical"].fill_null(""), PRODUCT_P, PRODUCT_DEFAULT)
    logit = np.log(p / (1 - p)) + PRODUCT_SIZE_LOGIT * z[:, None]
    has = rng.random(p.shape) < 1 / (1 + np.exp(-logit))
    products = pl.select(pl.concat_str([pl.lit("payments"), *(
        pl.when(pl.Series(has[:, j])).then(pl.lit("," + name)).otherwise(pl.lit("")) for j, name in
        enumerate(PRODUCTS[1:]))])).to_series()  # in PRODUCTS order

    rng = _rng(seed, 5)
    tilt = np.where(lost[:, None], CONTACTS_LOST, np.where(won[:, None], CONTACTS_WON, 1.0))
    contacts = _pick(rng, CONTACTS_P[size] * tilt) + 1

    rng = _rng(seed, 6)
    at = _pick(rng, _rows_by(deals["loss_reason"].fill_null(""), LOST_AT, LOST_AT_DEFAULT))

    names = pl.Series(list(COMPETITORS), dtype=pl.String)
    reasons = pl.Series(list(WIN_REASONS), dtype=pl.String)
    return pl.DataFrame({
        "id": deals["id"],
        "competitor": names.gather(competitor),
        "win_reason": pl.select(pl.when(pl.Series(won)).then(reasons.gather(win_reason))).to_series(),
        "discount_pct": discount,
        "products": products,
        "contacts": pl.Series(contacts, dtype=pl.Int32),
        "stage_lost_at": pl.Series(np.where(lost, at, -1), dtype=pl.Int64),
    })


def _seconds(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Datetime("us")).dt.epoch("s").fill_null(0).to_numpy().astype(np.int64)


def deal_changes(deals: pl.DataFrame, now: datetime, seed: int) -> pl.DataFrame:
    """opportunity_changes rows (id, opportunity_id, field, from_value, to_value, changed_at, actor) for the deals
    (columns of `demo_revenue_deals` and stage_lost_at), ids in the order things happened."""
    stage = _stage_changes(deals, now, seed)
    pushes = _close_pushes(deals, now, seed)
    rows = pl.concat([stage, pushes])
    rows = rows.sort("changed_at", "opportunity_id", "_order").drop("_order")
    return rows.with_columns(id=pl.int_range(1, rows.height + 1, dtype=pl.Int32)).select(
        "id", "opportunity_id", "field", "from_value", "to_value", "changed_at", "actor")


_PARTS = {"opportunity_id": pl.Int32, "from_value": pl.String, "to_value": pl.String, "_t": pl.Int64,
          "actor": pl.String, "_order": pl.Int32}  # the columns of a part of deal_changes, before they are finished


def _stage_changes(deals: pl.DataFrame, now: datetime, seed: int) -> pl.DataFrame:
    """Created in discovery; each later stage entered at the deal's cycle split in gamma-drawn proportions; the
    close (won after negotiation, lost at stage_lost_at) at closed_at. Open deals stop in their current stage."""
    n = deals.height
    won, lost = _outcomes(deals)
    closed = won | lost
    created = _seconds(deals["created_at"])
    now_s = int(pl.Series([now]).cast(pl.Datetime("us")).dt.epoch("s")[0])
    end = np.where(closed, _seconds(deals["closed_at"]), now_s)
    open_stage = deals["stage"].replace_strict(list(STAGES), list(range(3)), default=0,
                                               return_dtype=pl.Int64).to_numpy()
    last = np.where(won, 2, np.where(lost, deals["stage_lost_at"].to_numpy(), open_stage))  # the last stage it was in

    rng = _rng(seed, 7)
    g = rng.gamma(np.broadcast_to(STAGE_SHAPE, (n, 3)))
    g = np.where(np.arange(3)[None, :] <= last[:, None], g, 0.0)
    frac = np.cumsum(g / g.sum(axis=1, keepdims=True), axis=1)
    span = np.maximum(end - created, 0)
    entered = created[:, None] + (frac * span[:, None]).astype(np.int64)  # column j: left stage j (entered j+1)
    entered = np.minimum(np.maximum.accumulate(np.maximum(entered, created[:, None] + 60), axis=1), end[:, None])

    opp = deals["id"].to_numpy()
    actor = deals["owner"].fill_null("system")
    parts = [pl.DataFrame({"opportunity_id": opp, "from_value": None, "to_value": "discovery",
                           "_t": created, "actor": actor, "_order": 0},
                          schema_overrides={"from_value": pl.String})]
    for j in (1, 2):
        moved = last >= j
        parts.append(pl.DataFrame({"opportunity_id": opp[moved], "from_value": STAGES[j - 1], "to_value": STAGES[j],
                                   "_t": entered[moved, j - 1], "actor": actor.filter(moved), "_order": j}))
    names = pl.Series(list(STAGES), dtype=pl.String)
    parts.append(pl.DataFrame({
        "opportunity_id": opp[closed],
        "from_value": names.gather(last[closed]),
        "to_value": np.where(won[closed], "closed_won", "closed_lost"),
        "_t": end[closed], "actor": actor.filter(closed), "_order": 3,
    }))
    rows = pl.concat([p.cast(_PARTS) for p in parts])
    return rows.select(
        "opportunity_id", pl.lit("stage").alias("field"), "from_value", "to_value",
        pl.from_epoch("_t", time_unit="s").cast(pl.Datetime("us")).alias("changed_at"), "actor", "_order")


def _close_pushes(deals: pl.DataFrame, now: datetime, seed: int) -> pl.DataFrame:
    """Some deals pushed their expected close 1-3 times, ending at the date the deal carries now. Each push moved
    the date 1-5 weeks later, a few days before the old date came (within the deal's life); a push that would
    have left the first date within a week of the deal's creation is left out."""
    n = deals.height
    won, lost = _outcomes(deals)
    closed = won | lost
    rng = _rng(seed, 8)
    p = np.where(won, PUSH_P["won"], np.where(lost, PUSH_P["lost"], PUSH_P["open"]))
    k = np.where(rng.random(n) < p, _pick(rng, np.broadcast_to(np.array(PUSHES_P), (n, 3)).copy()) + 1, 0)
    delta = rng.integers(*PUSH_DAYS, (n, 3))  # delta[:, j]: the j-th push from the last
    before = rng.integers(0, 6 * DAY, (n, 3))

    current = deals["expected_close"].cast(pl.Int64).fill_null(0).to_numpy()  # days since 1970
    created = _seconds(deals["created_at"])
    now_s = int(pl.Series([now]).cast(pl.Datetime("us")).dt.epoch("s")[0])
    end = np.where(closed, _seconds(deals["closed_at"]), now_s)
    has_date = deals["expected_close"].is_not_null().to_numpy()
    back = np.cumsum(delta, axis=1)  # days from the current date back to the date before the last j+1 pushes
    fits = (current[:, None] - back) * DAY >= created[:, None] + 7 * DAY
    k = np.where(has_date, np.minimum(k, np.cumprod(fits, axis=1).sum(axis=1)), 0)

    opp = deals["id"].to_numpy()
    actor = deals["owner"].fill_null("system")
    rows = []
    for j in range(3):  # push j from the last; its old date is current - back[j], its new one current - back[j-1]
        pushed = k > j
        new = current - back[:, j - 1] if j else current
        old = current - back[:, j]
        at = old * DAY + 10 * HOUR - before[:, j]
        at = np.clip(at, created + HOUR, np.maximum(end - HOUR * (1 + j), created + HOUR))
        rows.append(pl.DataFrame({
            "opportunity_id": pl.Series(opp[pushed], dtype=pl.Int32),
            "from_value": pl.Series(old[pushed], dtype=pl.Int32).cast(pl.Date).cast(pl.String),
            "to_value": pl.Series(new[pushed], dtype=pl.Int32).cast(pl.Date).cast(pl.String),
            "_t": at[pushed], "actor": actor.filter(pushed), "_order": 10 - j,
        }))
    out = pl.concat([r.cast(_PARTS) for r in rows])
    return out.select(
        "opportunity_id", pl.lit("expected_close").alias("field"), "from_value", "to_value",
        pl.from_epoch("_t", time_unit="s").cast(pl.Datetime("us")).alias("changed_at"), "actor", "_order")
