"""Revenue attribution: the won revenue of a period shared out among the touches that came before each win, by
source, campaign and rep, under four models side by side.

A won deal's touches are its lead's submission (its channel is the source, its campaign the campaign, no rep) and,
up to the win, every activity logged on the lead (source "sales call" / "sales email" / ..., the rep who logged it)
and every sequence email sent to it (source "sequence email", the sequence as the campaign). Each model splits
the deal's amount among its touches:
- first touch: all of it to the earliest (the submission, nearly always);
- last touch: all of it to the latest before the win;
- linear: equal shares;
- time decay: shares halving every `half_life_days` before the win (7 by default).
So every model gives out exactly the won revenue, in every dimension. Attribution describes where credit is put
under a rule; no model says what would have happened without a touch.
"""

from __future__ import annotations

import math

import polars as pl

from flashdash.access import Actor
from flashdash.filters import Filters
from flashdash.store import Store

MODELS = ("first touch", "last touch", "linear", "time decay")
DIMENSIONS = {"source": "source", "campaign": "campaign", "rep": "rep"}
DEFAULT_HALF_LIFE_DAYS = 7.0
NOTE = ("Each model shares every won deal's amount among the touches before the win: first touch gives it all to "
        "the earliest (the lead's submission), last touch to the latest, linear shares it equally, time decay gives "
        "a touch half the weight of one {half_life:g} days later. The totals of every model are the period's won "
        "revenue. These are rules for sharing credit, not measurements of what a touch caused.")
_SCHEMA = {"dimension": pl.String, "value": pl.String, "model": pl.String, "revenue": pl.Float64,
           "share": pl.Float64, "deals": pl.UInt32, "touches": pl.UInt32}


class AttributionError(ValueError):
    """An attribution setting that cannot be used; the message says how to fix it."""


def attribute(store: Store, actor: Actor, filters: Filters,
              half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> dict[str, object]:
    """The won revenue of the period (deals in the actor's scope and the filters, by close date) attributed by
    source, campaign and rep under each model: {"frame" (dimension, value, model, revenue, share of the
    dimension's total under that model, deals and touches credited: a grouped bar chart's rows), "totals"
    (dimension, model, revenue, won_revenue: equal for every model), "won_revenue", "deals", "note"}."""
    if not (isinstance(half_life_days, (int, float)) and math.isfinite(half_life_days) and half_life_days > 0):
        raise AttributionError(f"The time-decay half-life must be a number of days above 0, not {half_life_days!r}.")
    touches = store.frame("attribution_touches", **filters.params(actor))
    credited = weights(touches, half_life_days)
    frame = by_dimension(credited)
    won = touches.unique("opportunity_id")
    won_revenue = float(won["amount"].sum()) if won.height else 0.0
    totals = (frame.group_by("dimension", "model").agg(revenue=pl.col("revenue").sum())
              .with_columns(won_revenue=pl.lit(won_revenue)).sort("dimension", "model"))
    return {"frame": frame, "totals": totals, "won_revenue": won_revenue, "deals": won.height,
            "note": NOTE.format(half_life=half_life_days)}


def weights(touches: pl.DataFrame, half_life_days: float) -> pl.DataFrame:
    """Touches (rows of attribution_touches) with the share of their deal each model gives them (`w_<model>`,
    summing to 1 over a deal's touches) and the revenue that makes (`r_<model>`)."""
    if touches.is_empty():
        return touches.with_columns([pl.lit(0.0).alias(f"{p}_{m}") for m in MODELS for p in ("w", "r")])
    order = ["opportunity_id", "touched_at", "kind", "source", "campaign", "rep"]
    t = touches.sort(order).with_columns(
        rank=pl.int_range(pl.len()).over("opportunity_id"), n=pl.len().over("opportunity_id"),
        age_days=(pl.col("won_at") - pl.col("touched_at")).dt.total_seconds().clip(lower_bound=0) / 86_400,
    )
    decay = (0.5 ** (pl.col("age_days") / half_life_days))
    t = t.with_columns(
        **{"w_first touch": (pl.col("rank") == 0).cast(pl.Float64),
           "w_last touch": (pl.col("rank") == pl.col("n") - 1).cast(pl.Float64),
           "w_linear": 1.0 / pl.col("n"),
           "w_time decay": decay / decay.sum().over("opportunity_id")})
    return t.with_columns([(pl.col(f"w_{m}") * pl.col("amount")).alias(f"r_{m}") for m in MODELS]).drop("rank", "n")


def by_dimension(credited: pl.DataFrame) -> pl.DataFrame:
    """Attributed revenue per dimension value and model, with its share of the model's total."""
    parts = []
    for dimension, column in DIMENSIONS.items():
        for model in MODELS:
            got = (credited.filter(pl.col(f"w_{model}") > 0)
                   .group_by(column)
                   .agg(revenue=pl.col(f"r_{model}").sum(), deals=pl.col("opportunity_id").n_unique(),
                        touches=pl.len().cast(pl.UInt32))
                   .rename({column: "value"})
                   .with_columns(dimension=pl.lit(dimension), model=pl.lit(model)))
            parts.append(got)
    if not parts or credited.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    frame = pl.concat(parts, how="diagonal_relaxed").with_columns(
        share=pl.col("revenue") / pl.col("revenue").sum().over("dimension", "model"))
    order = pl.col("model").replace_strict({m: i for i, m in enumerate(MODELS)}, return_dtype=pl.Int8)
    return (frame.select(list(_SCHEMA)).cast(_SCHEMA)
            .sort([pl.col("dimension"), order, pl.col("revenue"), pl.col("value")],
                  descending=[False, False, True, False]))
