"""The sales funnel: how far the period's leads got, where they dropped out, how long each stage took.

SQL counts the leads by segment, furthest stage reached and outcome (one small frame); the stage
table and the per-segment conversions are pure functions of that frame, so clicking a segment
filters the funnel without another count query.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from flashdash.access import Actor
from flashdash.entities import FUNNEL_STAGES
from flashdash.filters import Filters
from flashdash.store import Store

STAGE_LABELS = {"new": "New", "mql": "MQL", "sql": "SQL", "opportunity": "Opportunity", "won": "Won"}
DIMENSIONS = {"channel": "Channel", "vertical": "Vertical", "interest_level": "Interest level", "team": "Team"}

_GRID = pl.DataFrame({"stage_no": pl.Series(range(1, len(FUNNEL_STAGES) + 1), dtype=pl.Int32),
                      "stage": [STAGE_LABELS[s] for s in FUNNEL_STAGES]})
# Step k leads from stage k-1 to stage k; the last column of the segment view is the whole way, New → Won.
# Numbered so that they also sort in funnel order where a chart sorts labels alphabetically; short so that
# they fit under a heatmap column.
_SHORT = {"New": "New", "MQL": "MQL", "SQL": "SQL", "Opportunity": "Opp", "Won": "Won"}
_STEPS = pl.DataFrame({"stage_no": _GRID["stage_no"][1:],
                       "step": [f"{i}. {_SHORT[a]} → {_SHORT[b]}" for i, (a, b) in
                                enumerate(zip(_GRID["stage"], _GRID["stage"][1:], strict=False), start=1)]})
STEP_ORDER = (*_STEPS["step"], "New → Won")
# In legend order: the leads still in play first, then the two ways out.
FATE_LABELS = {"moved_on": "moved on", "still_open": "still there", "lost": "lost", "disqualified": "disqualified"}
COUNTS_SCHEMA = {"segment": pl.String, "stage": pl.Int32, "outcome": pl.String, "leads": pl.Int64}


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def _stages(counts: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The stage table per group of `by` (the whole of `counts` when `by` is empty)."""
    key = by or ["_all"]
    if not by:
        counts = counts.with_columns(_all=pl.lit(True))
    outcome = pl.col("outcome")
    per = counts.group_by(*key, "stage").agg(
        at=pl.col("leads").sum(),
        lost=pl.col("leads").filter(outcome == "lost").sum(),
        disqualified=pl.col("leads").filter(outcome == "disqualified").sum(),
        still_open=pl.col("leads").filter(outcome == "open").sum(),
    ).with_columns(pl.col("stage").cast(pl.Int32))
    # every stage of every group, even one no lead reached; the overall funnel always has its five rows
    groups = counts.select(key).unique() if by else pl.DataFrame({"_all": [True]})
    grid = groups.join(_GRID, how="cross")
    out = (
        grid.join(per, left_on=[*key, "stage_no"], right_on=[*key, "stage"], how="left")
        .with_columns(pl.col("at", "lost", "disqualified", "still_open").fill_null(0).cast(pl.Int64))
        .sort(*key, "stage_no")
        # reached stage k = got to k or further
        .with_columns(reached=pl.col("at").cum_sum(reverse=True).over(key))
        .with_columns(
            conversion=_ratio(pl.col("reached"), pl.col("reached").shift(1).over(key)),
            share_of_new=_ratio(pl.col("reached"), pl.col("reached").first().over(key)),
            dropped=pl.col("lost") + pl.col("disqualified"),
        )
        .with_columns(drop_rate=_ratio(pl.col("dropped"), pl.col("reached")))
    )
    cols = [*by, "stage_no", "stage", "reached", "conversion", "share_of_new", "lost", "disqualified", "dropped",
            "drop_rate", "still_open"]
    return out.select(cols)


def stage_table(counts: pl.DataFrame) -> pl.DataFrame:
    """Per stage, over every row of `counts` (segment, stage 1-5, outcome, leads): leads that reached it,
    conversion from the stage before, share of New, and the leads lost, disqualified or still open there."""
    return _stages(counts, [])


def fates(stages: pl.DataFrame) -> pl.DataFrame:
    """What became of the leads at each stage before Won, long (stage, fate, leads): moved on to the next
    stage, lost, disqualified, or still there."""
    moved = stages.with_columns(moved_on=pl.col("reached").shift(-1)).filter(pl.col("stage_no") < len(FUNNEL_STAGES))
    return (
        moved.unpivot(list(FATE_LABELS), index=["stage_no", "stage"],
                      variable_name="fate", value_name="leads")
        .with_columns(pl.col("fate").replace(FATE_LABELS), pl.col("leads").cast(pl.Int64))
        .sort("stage_no")
        .drop("stage_no")
    )


def segment_steps(counts: pl.DataFrame) -> pl.DataFrame:
    """Stage-to-stage conversion per segment, long (segment, step, conversion, leads), New → Won last."""
    per = _stages(counts, ["segment"])
    steps = per.join(_STEPS, on="stage_no").select("segment", "step", "conversion")
    new = per.filter(pl.col("stage_no") == 1).select("segment", leads="reached")
    won = per.filter(pl.col("stage_no") == len(FUNNEL_STAGES)).select(
        "segment", step=pl.lit(STEP_ORDER[-1]), conversion="share_of_new")
    out = pl.concat([steps, won]).join(new, on="segment")
    return out.with_columns(step_no=pl.col("step").replace_strict(STEP_ORDER, list(range(len(STEP_ORDER))))) \
        .sort("segment", "step_no").drop("step_no")


def segment_table(steps: pl.DataFrame) -> pl.DataFrame:
    """The per-segment conversions wide: one row per segment, biggest first, a column per step."""
    if steps.is_empty():
        return pl.DataFrame(schema={"segment": pl.String, "leads": pl.Int64})
    wide = steps.pivot("step", index=["segment", "leads"], values="conversion")
    return wide.select("segment", "leads", *STEP_ORDER).sort(["leads", "segment"], descending=[True, False])


def funnel(store: Store, actor: Actor, filters: Filters, dimension: str = "channel",
           focus: tuple[str, ...] = ()) -> dict[str, Any]:
    """The funnel of the period's leads (only the `focus` segments of `dimension` when given) and the
    stage conversion of every segment side by side."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown segment dimension {dimension!r}; choose one of {', '.join(DIMENSIONS)}")
    params = {**filters.params(actor), "dimension": dimension, "focus": list(focus)}
    with store.read() as con:
        counts = store.frame("funnel_counts", con, **params)
        times = store.frame("funnel_stage_times", con, **params)
    counts = counts.cast(COUNTS_SCHEMA) if counts.height else pl.DataFrame(schema=COUNTS_SCHEMA)
    focused = counts.filter(pl.col("segment").is_in(list(focus))) if focus else counts
    stages = stage_table(focused).join(
        times.select(stage=pl.col("stage").replace_strict(STAGE_LABELS), median_days_in_stage="median_days"),
        on="stage", how="left",
    ) if times.height else stage_table(focused).with_columns(median_days_in_stage=pl.lit(None, pl.Float64))
    steps = segment_steps(counts)
    return {
        "stages": stages,
        "steps": steps,
        "segments": segment_table(steps),
        "leads": int(focused["leads"].sum()),
        "still_open": int(focused.filter(pl.col("outcome") == "open")["leads"].sum()),
        "dimension": dimension,
    }
