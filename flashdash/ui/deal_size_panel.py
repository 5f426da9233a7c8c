"""The Revenue page's Deal size tab: what won deals' amounts go with (a regression's % effects with their 95%
intervals, R², n and its out-of-time check against the median), and which open deals are small against the won
deals like them, with the recommended range for each.

Every role reads its own scope: a rep their own deals, a manager their team's, the others everyone's. The open
deals are compared with similar won deals of every team (the recommended range is an aggregate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import clock, deal_size
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

KEY = "rev.size"
LARGER, SMALLER = "associated with larger deals", "associated with smaller deals"
VERDICT_COLORS = alt.Scale(domain=[LARGER, SMALLER, deal_size.NO_CLEAR], range=["#16a34a", "#dc2626", "#94a3b8"])
STATUS_ORDER = ("under-sized", "within range", "above range", deal_size.NOT_ENOUGH_SIMILAR)
MONEY = st.column_config.NumberColumn(format="dollar")
RANGE_ROWS = 25  # a range chart with more rows than this is unreadable; the table holds them all


def render(actor: Actor, filters: Filters) -> None:
    now = clock.now().replace(second=0, microsecond=0)  # one cache entry per minute, not per rerun
    whose = ui.scope_phrase(actor, "won and open deals")
    st.caption(f"{whose}. Both parts look at every won deal on record, whatever the sidebar's period and "
               "filters: a regression needs all the deals it can get, and an open deal is judged as it stands now.")
    drivers_section(actor, now)
    st.divider()
    undersized_section(actor, now)



# ---------------------------------------------------------------- drivers


def effect_label(row: dict[str, Any]) -> str:
    """A coefficient's row label: what it is and what it is compared with."""
    factor, level, against = row["factor"], row["level"], row["compared_with"]
    if factor == "monthly volume":
        return "monthly volume: twice as much" if level == "per doubling" else f"monthly volume: {level}"
    if factor == "discount":
        return f"discount: {level}"
    if factor == "products":
        return "products: one more (separate fit)"
    if factor == "product":
        return f"includes {level}"
    return f"{factor}: {level} (vs {against})"


def effect_rows(coefficients: pl.DataFrame) -> pl.DataFrame:
    """The coefficients with their chart label and the interval written out."""
    labels = [effect_label(r) for r in coefficients.iter_rows(named=True)]
    return coefficients.with_columns(
        label=pl.Series(labels, dtype=pl.String),
        interval=pl.struct("ci_low_pct", "ci_high_pct").map_elements(
            lambda r: f"{r['ci_low_pct']:+.0f}% to {r['ci_high_pct']:+.0f}%", return_dtype=pl.String))


def p_text(p: float | None) -> str | None:
    """A p-value as the sentences write it: "< 0.001" rather than a row of zeros."""
    if p is None:
        return None
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def effects_chart(rows: pl.DataFrame) -> alt.LayerChart:
    """Each % effect as a dot with its 95% interval as a bar, against the dashed line at 0% (no difference);
    green when the interval is above 0, red below, grey when it includes 0."""
    data = rows.select("label", "effect_pct", "ci_low_pct", "ci_high_pct", "verdict", "n_with", "interval")
    order = data["label"].to_list()
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=340))
    color = alt.Color("verdict:N", scale=VERDICT_COLORS, title=None,
                      legend=alt.Legend(orient="bottom", labelLimit=260))
    tooltip = [alt.Tooltip("label:N", title="factor"), alt.Tooltip("effect_pct:Q", format="+.1f", title="effect %"),
               alt.Tooltip("interval:N", title="95% interval"), alt.Tooltip("n_with:Q", format=",", title="deals"),
               alt.Tooltip("verdict:N")]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low_pct:Q", title="% difference in the won amount (95% interval)"), x2="ci_high_pct:Q",
        color=color)
    dots = base.mark_point(filled=True, size=70).encode(x="effect_pct:Q", color=color)
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="#64748b").encode(x="x:Q")
    return (bars + dots + zero).properties(height=110 + 26 * data.height)


def drivers_section(actor: Actor, now: datetime) -> None:
    st.subheader("What won deals' amounts go with")
    try:
        out = cached(deal_size.drivers, actor, now)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if out["why"]:
        st.warning(f"{out['why']} The effects are not shown until there are enough won deals in your scope.",
                   icon=":material/data_alert:")
        return
    _fit_summary(out)
    rows = effect_rows(out["coefficients"])
    ui.chart(effects_chart(rows), key=f"{KEY}.effects")
    st.caption("Each dot is a factor's % difference in the won amount, other things in the model equal, and its bar "
               "the 95% interval (robust standard errors). Green: associated with larger deals; red: with smaller "
               "ones; grey: the interval includes 0%, no clear association. Vertical and company size compare "
               "with the commonest level; volume is per doubling; a product compares deals with it against deals "
               "without it; discount is per 5 points; “one more product” comes from a second fit with the number "
               "of products in place of which ones.")
    if out["not_recorded"]:
        st.caption(f"Not in the model: the store records no {' and no '.join(out['not_recorded'])} on won deals.")
    st.info(out["note"], icon=":material/info:")
    ui.table(rows.select(
        "label", "verdict", pl.col("effect_pct").alias("effect %"), pl.col("interval").alias("95% interval"),
        pl.col("p_value").map_elements(p_text, return_dtype=pl.String).alias("p"),
        pl.col("n_with").alias("deals with it"), "wording"),
        "deal_size_drivers", key=f"{KEY}.drivers", column_config={
            "label": st.column_config.TextColumn("factor", width="medium"),
            "effect %": st.column_config.NumberColumn(format="%+.1f%%"),
            "wording": st.column_config.TextColumn("what it says", width="large")})


def _fit_summary(out: dict[str, Any]) -> None:
    evaluation = out["evaluation"] or {}
    left, middle, right = st.columns(3)
    left.metric("Won deals in the fit", f"{out['n']:,}")
    middle.metric("R²", f"{out['r2']:.2f}", help=f"Adjusted R² {out['adj_r2']:.2f}: the share of the variation in "
                  "log(won amount) the model accounts for, on the deals it was fitted on.")
    if evaluation.get("beats_baseline") is None:
        right.metric("Out-of-time error", "–")
        st.info(evaluation.get("why") or "The fit could not be judged out of time.", icon=":material/data_alert:")
        return
    points = 100 * (evaluation["median_abs_pct_error"] - evaluation["baseline_median_abs_pct_error"])
    right.metric("Out-of-time error", f"{evaluation['median_abs_pct_error']:.0%}",
                 delta=f"{points:+.0f} points vs the median's {evaluation['baseline_median_abs_pct_error']:.0%}",
                 delta_color="inverse",
                 help="The typical (median) absolute error as a share of the amount on the latest won deals, for a "
                      "model fitted on the earlier ones; the baseline puts every deal at the earlier deals' median.")
    when = f"won {evaluation['test_from']:%d %b %Y} – {evaluation['test_to']:%d %b %Y}"
    text = (f"Out of time: fitted on the {evaluation['train_deals']:,} earlier won deals, then tested on the later "
            f"ones ({when}). {evaluation['why']}")
    if evaluation["beats_baseline"]:
        st.caption(text)
    else:
        st.warning(text, icon=":material/warning:")


# ---------------------------------------------------------------- under-sized open deals


def undersized_view(frame: pl.DataFrame) -> pl.DataFrame:
    """Open deals as the table shows them: who, what, the amount against the range, the gap and the status."""
    return frame.select(
        pl.col("merchant_name").alias("merchant"), "rep", "stage", "amount",
        pl.col("recommended_low").alias("range from"), pl.col("recommended_high").alias("range to"),
        pl.col("median_similar").alias("median"), "gap", "status",
        pl.col("similar_won").alias("similar won deals"), "vertical", pl.col("company_size").alias("company size"),
        pl.col("monthly_volume").alias("monthly volume"), pl.col("wording").alias("what it says"))


def range_chart(frame: pl.DataFrame) -> alt.LayerChart:
    """Each deal's amount (dot) against its recommended range (bar, p25–p75) and the median (tick)."""
    data = frame.select("merchant_name", "amount", "recommended_low", "recommended_high", "median_similar", "status",
                        "gap", "similar_won")
    order = data["merchant_name"].to_list()
    y = alt.Y("merchant_name:N", sort=order, title=None, axis=alt.Axis(labelLimit=240))
    tooltip = [alt.Tooltip("merchant_name:N", title="merchant"), alt.Tooltip("amount:Q", format="$,.0f"),
               alt.Tooltip("recommended_low:Q", format="$,.0f", title="range from"),
               alt.Tooltip("recommended_high:Q", format="$,.0f", title="range to"),
               alt.Tooltip("median_similar:Q", format="$,.0f", title="median"),
               alt.Tooltip("gap:Q", format="$,.0f"), alt.Tooltip("similar_won:Q", title="similar won deals")]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    span = base.mark_bar(color="#c7d2fe", size=12).encode(
        x=alt.X("recommended_low:Q", title="amount", axis=alt.Axis(format="$,.0f")), x2="recommended_high:Q")
    median = base.mark_tick(color="#4f46e5", thickness=2, size=14).encode(x="median_similar:Q")
    colors = alt.Scale(domain=list(STATUS_ORDER[:3]), range=["#dc2626", "#16a34a", "#2563eb"])
    dot = base.mark_point(filled=True, size=80).encode(
        x="amount:Q", color=alt.Color("status:N", scale=colors, title=None, legend=alt.Legend(orient="bottom")))
    return (span + median + dot).properties(height=110 + 26 * data.height)


def undersized_section(actor: Actor, now: datetime) -> None:
    st.subheader("Open deals against similar won deals")
    st.caption(f"{deal_size.SIMILAR_RULE} The recommended range is the middle half of their amounts (25th to 75th "
               f"percentile); a deal below it is under-sized by the gap to the 25th percentile. With fewer than "
               f"{deal_size.MIN_SIMILAR} similar won deals no range is recommended.")
    try:
        frame = cached(deal_size.undersized, actor, now)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if frame.is_empty():
        st.info("There are no open deals in your scope to compare: deals appear here once a lead has an open "
                "opportunity.", icon=":material/search_off:")
        return
    counts = dict(frame.group_by("status").len().iter_rows())
    under = frame.filter(pl.col("status") == "under-sized")
    cols = st.columns(4)
    cols[0].metric("Under-sized", f"{counts.get('under-sized', 0):,}",
                   help="Open deals below the 25th percentile of similar won deals.")
    cols[1].metric("Total gap to the range", f"${under['gap'].sum():,.0f}",
                   help="What the under-sized deals would add if each reached the bottom of its range.")
    cols[2].metric("Within or above the range", f"{counts.get('within range', 0) + counts.get('above range', 0):,}")
    cols[3].metric("No range (too few similar deals)", f"{counts.get(deal_size.NOT_ENOUGH_SIMILAR, 0):,}")
    only = st.toggle("Only the under-sized deals", key=f"{KEY}.only_under",
                     help="Show just the deals below their recommended range, biggest gap first.")
    shown = under if only else frame
    if only and shown.is_empty():
        st.success("No open deal in your scope is below its recommended range.", icon=":material/done:")
        return
    ranged = shown.filter(pl.col("recommended_low").is_not_null()).head(RANGE_ROWS)
    if not ranged.is_empty():
        ui.chart(range_chart(ranged), key=f"{KEY}.ranges")
        more = shown.filter(pl.col("recommended_low").is_not_null()).height - ranged.height
        st.caption("Each dot is the deal's amount, the bar its recommended range and the tick the median of the "
                   "similar won deals." + (f" The chart shows the first {RANGE_ROWS}; the table has {more:,} more "
                                           "with a range." if more > 0 else ""))
    ui.table(undersized_view(shown), "open_deals_against_similar_won", key=f"{KEY}.deals", column_config={
        "amount": MONEY, "range from": MONEY, "range to": MONEY, "median": MONEY,
        "gap": st.column_config.NumberColumn("gap to the range", format="dollar",
                                             help="The 25th percentile minus the amount: positive is under-sized."),
        "monthly volume": MONEY,
        "what it says": st.column_config.TextColumn(width="large")})

