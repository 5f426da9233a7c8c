"""The Revenue page's Attribution tab: the period's won revenue shared out by source, campaign or rep under the
first-touch, last-touch, linear and time-decay models side by side, as grouped bars and a table, with the check
that every model gives out exactly the won revenue.

The sidebar's filters apply (won deals by close date); each role reads the won deals in its own scope."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import attribution
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

KEY = "rev.attr"
DIMENSION_LABELS = {"source": "Source", "campaign": "Campaign", "rep": "Rep"}
MODEL_COLORS = alt.Scale(domain=list(attribution.MODELS), range=["#4f46e5", "#0891b2", "#f59e0b", "#db2777"])
TOP = 12  # values charted one by one; the rest are summed into one bar so that every model still adds up
OTHERS = "all others"


def render(actor: Actor, filters: Filters) -> None:
    whose = ui.scope_phrase(actor, "deals")
    st.caption(f"{whose}, won {filters.start:%d %b %Y} – {filters.end:%d %b %Y} (by close date; the "
               "sidebar's filters apply).")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    dimension = left.segmented_control("Attribute by", list(attribution.DIMENSIONS), default="source",
                                       format_func=DIMENSION_LABELS.get, key=f"{KEY}.dimension") or "source"
    half_life = right.number_input(
        "Time-decay half-life (days)", value=attribution.DEFAULT_HALF_LIFE_DAYS, step=1.0, format="%.1f",
        key=f"{KEY}.half_life",
        help="Under time decay a touch gets half the credit of one this many days later; the other models ignore it.")
    try:
        out = cached(attribution.attribute, actor, filters, float(half_life))
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if not out["deals"]:
        ui.empty("No deal in your scope was won in the period, so there is no revenue to attribute.")
        return
    frame = out["frame"].filter(pl.col("dimension") == dimension)
    _totals(out, dimension)
    ui.chart(grouped_bars(frame, dimension), key=f"{KEY}.chart")
    st.caption(f"Each group is one {dimension}; its four bars are the revenue each model credits to it. "
               + (f"The {TOP} largest are drawn one by one and the rest summed as “{OTHERS}”, so every model's "
                  "bars still add up to the won revenue; the table lists them all."
                  if frame["value"].n_unique() > TOP + 1 else "Every model's bars add up to the won revenue."))
    ui.table(side_by_side(frame), f"attribution_by_{dimension}", key=f"{KEY}.table",
             column_config=_columns(dimension))
    st.info(out["note"], icon=":material/info:")



def _totals(out: dict[str, Any], dimension: str) -> None:
    """The won revenue, and each model's total checked against it (they must be equal)."""
    totals = out["totals"].filter(pl.col("dimension") == dimension)
    won = out["won_revenue"]
    off = totals.filter((pl.col("revenue") - won).abs() > 0.5)
    cols = st.columns(3)
    cols[0].metric("Won revenue", f"${won:,.0f}")
    cols[1].metric("Deals won", f"{out['deals']:,}")
    cols[2].metric("Each model gives out", f"${won:,.0f}" if off.is_empty() else "see the warning",
                   help="Every model shares out each deal's whole amount, so each model's total is the won revenue.")
    if off.is_empty():
        st.caption(f"Totals: first touch, last touch, linear and time decay each give out ${won:,.0f}, exactly the "
                   f"won revenue of the {out['deals']:,} deals.")
    else:
        st.warning("Some model's total differs from the won revenue: " + "; ".join(
            f"{r['model']} ${r['revenue']:,.0f}" for r in off.iter_rows(named=True)) + f" against ${won:,.0f}.",
            icon=":material/warning:")


def chart_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The TOP values by their largest credit under any model, the rest summed into OTHERS per model."""
    ranked = (frame.group_by("value").agg(pl.col("revenue").max().alias("best"))
              .sort(["best", "value"], descending=[True, False])["value"].to_list())
    if len(ranked) <= TOP + 1:  # one bar of "all others" for a single value would only hide its name
        return frame
    keep = ranked[:TOP]
    rest = (frame.filter(~pl.col("value").is_in(keep)).group_by("model")
            .agg(pl.col("revenue").sum(), pl.col("share").sum())
            .with_columns(value=pl.lit(OTHERS)))
    return pl.concat([frame.filter(pl.col("value").is_in(keep)).select("value", "model", "revenue", "share"),
                      rest.select("value", "model", "revenue", "share")])


def grouped_bars(frame: pl.DataFrame, dimension: str) -> alt.Chart:
    """Horizontal bars grouped by value, one bar per model in the models' order."""
    data = chart_rows(frame).select("value", "model", "revenue", "share")
    order = (data.filter(pl.col("value") != OTHERS).group_by("value").agg(pl.col("revenue").max())
             .sort(["revenue", "value"], descending=[True, False])["value"].to_list())
    if data.filter(pl.col("value") == OTHERS).height:
        order.append(OTHERS)
    groups = len(order)
    return alt.Chart(data).mark_bar(cornerRadiusEnd=2).encode(
        y=alt.Y("value:N", sort=order, title=None, axis=alt.Axis(labelLimit=240)),
        yOffset=alt.YOffset("model:N", sort=list(attribution.MODELS)),
        x=alt.X("revenue:Q", title="attributed won revenue", axis=alt.Axis(format="$,.0f")),
        color=alt.Color("model:N", scale=MODEL_COLORS, title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("value:N", title=dimension), alt.Tooltip("model:N"),
                 alt.Tooltip("revenue:Q", format="$,.0f"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=80 + 4 * 11 * groups)


def side_by_side(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per value: each model's revenue and share side by side, largest under linear first."""
    revenue = frame.pivot("model", index="value", values="revenue")
    share = frame.pivot("model", index="value", values="share")
    models = [m for m in attribution.MODELS if m in revenue.columns]
    out = revenue.select("value", *models).join(
        share.select("value", *[pl.col(m).alias(f"{m} share") for m in models]), on="value", how="left")
    out = out.with_columns([pl.col(c).fill_null(0.0) for c in out.columns if c != "value"])
    return out.sort(["linear", "value"], descending=[True, False])


def _columns(dimension: str) -> dict[str, Any]:
    config: dict[str, Any] = {"value": st.column_config.TextColumn(dimension, width="medium")}
    for m in attribution.MODELS:
        config[m] = st.column_config.NumberColumn(m, format="dollar")
        config[f"{m} share"] = st.column_config.NumberColumn(f"{m} %", format="percent")
    return config
