"""The Revenue page's Forecast tab: won revenue forecast by month or quarter three ways (the revenue model, the
pipeline simulation and their blend) side by side with their 80% and 95% intervals after the actual history, the
method the backtest chose marked; then the backtest itself (every method's error and interval coverage, the
baselines) and, plainly, how far the forecast is from Phase 3's accuracy target and why.

Analysts, executives and admins read the company-wide run the refresh_forecast job stored; a rep's or a manager's
forecast is recomputed for their own book (forecast.latest_forecast) with the method the company's backtest chose,
and they see that backtest's record (forecast_accuracy), which holds no amounts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import altair as alt
import polars as pl
import streamlit as st
from statsmodels.stats.proportion import proportion_confint

from flashdash import charts, clock, forecast, forecast_accuracy, schedule
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

KEY = "rev.forecast"
GRAINS = ("By month", "By quarter")
HORIZONS = {1: "1 month ahead", 3: "3 months ahead"}
METHODS = {"revenue model": "Revenue model", forecast.PIPELINE: "Pipeline simulation", forecast.BLEND: "Blend"}
TARGET = 0.90  # Phase 3: 90% of months within ±5%
BAR_WITHIN_10, BAR_COVERAGE = 0.80, (0.70, 0.90)  # the backtest's bar: months within ±10%, the 80% interval's hold
HISTORY = {"By month": 12, "By quarter": 6}  # actual periods drawn before the forecast
DOLLARS = st.column_config.NumberColumn(format="dollar")


def money(x: float | None) -> str:
    """$3.29M, $412k, $950; – for nothing."""
    if x is None:
        return "–"
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    return f"${x / 1e3:,.0f}k" if abs(x) >= 1e4 else f"${x:,.0f}"


def share(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def render(actor: Actor, filters: Filters) -> None:
    del filters  # the forecast is as of the stored run, for the reader's whole book (said in the caption)
    try:
        out = cached(forecast.latest_forecast, actor)
        record = out if actor.sees_all else cached(forecast_accuracy.company_backtest, actor)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    if out.get("as_of") is None:
        st.info("The forecast has not been computed on this store yet. The scheduler computes it when it starts and "
                "every night at 03:00 (the refresh_forecast job); an admin can run it now under Admin → Jobs.",
                icon=":material/schedule:")
        return
    provenance(actor, out)
    if out.get("status") != "ok" or out["months"].is_empty():
        st.warning(out.get("note") or forecast.NOT_ENOUGH, icon=":material/data_alert:")
    else:
        forecast_section(out)
    st.divider()
    backtest_section(actor, out, record)
    pipeline_section(out)


def provenance(actor: Actor, out: dict[str, Any]) -> None:
    """When the run was computed, by which job, and whose deals the figures are."""
    minute = clock.now().replace(second=0, microsecond=0)
    ui.freshness(cached(schedule.freshness_of, "Revenue forecast", minute), "The forecast and its backtest")
    when = (f"computed {out['computed_at']:%d %b %Y %H:%M} by the refresh_forecast job, as of "
            f"{out['as_of']:%d %b %Y %H:%M}")
    if actor.sees_all:
        scope = f"Company-wide, every deal: the stored run, {when}"
    else:
        whose = "your team's" if actor.role == "manager" else "your own"
        scope = (f"From {whose} deals only, recomputed as of the stored run ({when}) with the method that run's "
                 "backtest chose")
    st.caption(f"{scope}. The sidebar's dates and filters do not narrow the forecast. {forecast.NOTE}")


# ---------------------------------------------------------------- the forecast


def history(series: pl.DataFrame, grain: str) -> pl.DataFrame:
    """The actual won revenue before the forecast: period (a date), label, actual; complete months only (not the
    ramp-up of the history, not the month in progress), and for quarters only those with three complete months."""
    done = series.filter(pl.col("status") == "complete")
    if grain == "By month":
        frame = done.select(pl.col("month").alias("period"), pl.col("won_amount").alias("actual"))
    else:
        frame = (done.group_by(pl.col("month").dt.truncate("1q").alias("period"))
                 .agg(actual=pl.col("won_amount").sum(), n=pl.len()).filter(pl.col("n") == 3).drop("n"))
    frame = frame.sort("period").tail(HISTORY[grain])
    return frame.with_columns(label=_label(pl.col("period"), grain))


def _label(period: pl.Expr, grain: str) -> pl.Expr:
    if grain == "By month":
        return period.dt.strftime("%b %Y")
    return pl.format("{}-Q{}", period.dt.year(), period.dt.quarter())


def forecast_frame(out: dict[str, Any], grain: str) -> pl.DataFrame:
    """The forecast rows of the grain: method, period (a date), label, forecast, lo80, hi80, lo95, hi95, chosen."""
    if grain == "By month":
        frame = out["months"].rename({"month": "period"})
    else:
        frame = out["quarters"].rename({"start": "period"}).drop("quarter")
    return frame.with_columns(label=_label(pl.col("period"), grain)).select(
        "method", "period", "label", "forecast", "lo80", "hi80", "lo95", "hi95", "chosen")


def band_chart(past: pl.DataFrame, rows: pl.DataFrame, title: str, top: float, chosen: bool) -> alt.LayerChart:
    """The actual history as a grey line, then the forecast: the 95% band, the 80% band inside it and the median."""
    color = charts.ACCENT if chosen else "#64748b"
    order = [*past["label"].to_list(), *[x for x in rows["label"].to_list() if x not in past["label"].to_list()]]
    x = alt.X("label:O", sort=order, title=None, axis=alt.Axis(labelAngle=-45))
    y = alt.Y("actual:Q", title="won revenue", scale=alt.Scale(domain=[0, top]), axis=alt.Axis(format="$,.2s"))
    actual = alt.Chart(past, title=title).mark_line(point=alt.OverlayMarkDef(color="#9ca3af"), color="#9ca3af").encode(
        x=x, y=y, tooltip=[alt.Tooltip("label:O", title="period"), alt.Tooltip("actual:Q", format="$,.0f")])
    base = alt.Chart(rows).encode(x=x)
    money_tip = [alt.Tooltip("label:O", title="period"), alt.Tooltip("forecast:Q", title="median", format="$,.0f"),
                 alt.Tooltip("lo80:Q", title="80% from", format="$,.0f"),
                 alt.Tooltip("hi80:Q", title="80% to", format="$,.0f"),
                 alt.Tooltip("lo95:Q", title="95% from", format="$,.0f"),
                 alt.Tooltip("hi95:Q", title="95% to", format="$,.0f")]
    band95 = base.mark_area(opacity=0.18, color=color).encode(y=alt.Y("lo95:Q"), y2="hi95:Q")
    band80 = base.mark_area(opacity=0.35, color=color).encode(y=alt.Y("lo80:Q"), y2="hi80:Q")
    median = base.mark_line(point=alt.OverlayMarkDef(color=color), color=color).encode(y=alt.Y("forecast:Q"),
                                                                                       tooltip=money_tip)
    return alt.layer(band95, band80, actual, median).properties(height=300)


def forecast_section(out: dict[str, Any]) -> None:
    st.subheader("Won revenue forecast")
    grain = st.segmented_control("Periods", GRAINS, default=GRAINS[0], key=f"{KEY}.grain",
                                 label_visibility="collapsed") or GRAINS[0]
    past, rows = history(out["series"], grain), forecast_frame(out, grain)
    top = max([*rows["hi95"].to_list(), *past["actual"].to_list(), 1.0]) * 1.05
    methods = [m for m in METHODS if m in rows["method"].unique().to_list()]
    for col, method in zip(st.columns(len(methods)), methods, strict=True):
        part = rows.filter(pl.col("method") == method)
        chosen = bool(part["chosen"].any())
        with col.container(border=True):
            st.markdown(f"**{METHODS[method]}**" + ("  :violet-badge[:material/check: chosen]" if chosen else ""),
                        help="The method the backtest chose: the lowest one-month MAPE." if chosen else None)
            ui.chart(band_chart(past, part, "", top, chosen), key=f"{KEY}.chart.{method.replace(' ', '_')}")
            st.caption(_method_caption(out, method))
    st.caption("Grey: actual won revenue of complete periods. Each band: the 80% interval (darker) inside the 95% "
               "interval (lighter) around the median. The period in progress is what has been won in it so far "
               "plus what each method expects in the rest of it." +
               (" A quarter is shown once all of its months are complete or forecast." if grain == GRAINS[1] else ""))
    table = rows.with_columns(pl.col("method").replace_strict(METHODS, default=pl.col("method"))).select(
        pl.col("method"), pl.col("label").alias("month" if grain == GRAINS[0] else "quarter"),
        pl.col("forecast").alias("median"), pl.col("lo80").alias("80% from"), pl.col("hi80").alias("80% to"),
        pl.col("lo95").alias("95% from"), pl.col("hi95").alias("95% to"), "chosen")
    ui.table(table, "revenue_forecast", key=f"{KEY}.table",
             column_config={c: DOLLARS for c in ("median", "80% from", "80% to", "95% from", "95% to")})


def _method_caption(out: dict[str, Any], method: str) -> str:
    weight = out.get("weight")
    if method == "revenue model":
        label = out.get("model_label") or forecast.label_of(out.get("model") or "")
        return f"{label}, fitted to the monthly won revenue."
    if method == forecast.PIPELINE:
        return (f"{out.get('draws', 0):,} simulations of the open deals (win chance × close date) and of the deals "
                "still to come.")
    if weight is None:
        return "A weighted average of the two, interval by interval."
    same = " With weight 0 it equals the pipeline." if weight == 0 else (
        " With weight 1 it equals the revenue model." if weight == 1 else "")
    return f"{weight:.0%} the revenue model + {1 - weight:.0%} the pipeline, as the backtest found best.{same}"


# ---------------------------------------------------------------- the backtest


SHORT = {"naive": "Naive (last month again)", "mean12": "Mean of the last 12 months",
         "ets_ann": "ETS(A,N,N) simple smoothing", "ets_aadn": "ETS(A,Ad,N) damped trend",
         "arima_ct": "ARIMA(1,0,0) + linear trend", "ets_ana": "ETS(A,N,A) seasonal",
         "sarima_c": "SARIMA(1,0,0)(0,1,0)12", forecast.PIPELINE: "Pipeline simulation", forecast.BLEND: "Blend",
         forecast.SELECTED: "Selected out of time"}
SHARES = {"within_5pct": "within ±5%", "within_10pct": "within ±10%", "attainable_10pct": "±10% attainable",
          "coverage_80": "80% held",
          "coverage_95": "95% held", "width_80": "80% width", "bias": "bias"}


def kind_of(model: str) -> str:
    if model in forecast.BY_NAME:
        return "baseline" if forecast.BY_NAME[model].family == "baseline" else "revenue model"
    return {forecast.PIPELINE: "pipeline", forecast.BLEND: "blend", forecast.SELECTED: "the choice, scored"}.get(
        model, model)


def backtest_table(metrics: pl.DataFrame, chosen: str | None, horizon: int) -> pl.DataFrame:
    """One row per method at the horizon, best MAPE first (the chosen one first among equals): what it is, whether
    it was chosen, and its record, shares in percent."""
    rows = (metrics.filter(pl.col("horizon") == horizon)
            .with_columns(chosen=pl.col("model") == (chosen or ""))
            .sort("mape", "chosen", descending=[False, True], nulls_last=True))
    return rows.select(
        pl.col("model").replace_strict(SHORT, default=pl.col("label")).alias("method"),
        pl.col("model").map_elements(kind_of, return_dtype=pl.String).alias("kind"), "chosen",
        (pl.col("mape") * 100).alias("MAPE"), *[_points(k).alias(v) for k, v in SHARES.items()],
        pl.col("months").alias("n months"))


def _points(column: str) -> pl.Expr:
    """A share as whole percentage points (no "-0%" for a bias that rounds to nothing)."""
    x = (pl.col(column) * 100).round(0)
    return pl.when(x.abs() < 0.5).then(0.0).otherwise(x)


def backtest_section(actor: Actor, out: dict[str, Any], record: dict[str, Any]) -> None:
    st.subheader("How accurate it has been: the backtest")
    if record.get("as_of") is None or record.get("backtest_status") != "ok" or record["backtest"].is_empty():
        st.warning(f"No backtest to show: {record.get('note') or 'the stored run could not be backtested'} "
                   "(it takes months of won revenue to score a forecast against).", icon=":material/data_alert:")
        return
    figures = record["figures"]
    if not actor.sees_all:
        chosen = SHORT.get(record.get("chosen") or "", record.get("chosen_label"))
        st.caption(f"The backtest is run on the whole company's deals, and chose the method your forecast uses "
                   f"({chosen}). Your own forecast is not backtested separately: read these figures as the method's "
                   "record on the company, not on your book. They hold error shares only, no amounts.")
    st.caption(f"Rolling origin: at the start of each month from {_month(figures.get('from'))} to "
               f"{_month(figures.get('to'))}, every method forecast that month and the next two from only what was "
               "known then, and was scored against what was won. The method with the lowest one-month MAPE is the "
               "one used.")
    verdict(figures)
    horizon = st.segmented_control("Horizon", list(HORIZONS), format_func=HORIZONS.get, default=1,
                                   key=f"{KEY}.horizon", label_visibility="collapsed") or 1
    table = backtest_table(record["backtest"], record.get("chosen"), horizon)
    ui.table(table, f"forecast_backtest_{horizon}m", key=f"{KEY}.backtest", column_config={
        "MAPE": st.column_config.NumberColumn("MAPE", format="%.1f%%"),
        **{c: st.column_config.NumberColumn(c, format="%.0f%%") for c in SHARES.values()},
        "bias": st.column_config.NumberColumn("bias", format="%+.0f%%")})
    st.caption("MAPE: the mean absolute error as a share of the actual month. Within ±5% / ±10%: the share of months "
               "whose median forecast came that close. ±10% attainable: the share a forecast with this method's spread "
               "would reach if that spread were exactly right. 80% / 95% held: how often the actual fell inside that interval "
               "(an honest interval holds about that often). 80% width: the 80% interval's span as a share of the "
               "forecast. Bias: the median signed error (positive: too high). Baselines need no model: a method earns "
               "its place only by beating them. 'Selected out of time' scores the choosing itself: at each month, the "
               "method that had done best on the months before it. Every method's intervals are calibrated out of "
               "time: at each month, widened or narrowed by how large its own errors had been in the months before, "
               "and the forecast above by its whole record.")
    if actor.sees_all and not out.get("predictions", pl.DataFrame()).is_empty():
        _predictions_chart(out["predictions"], out["chosen"], SHORT.get(out["chosen"], out.get("chosen_label") or ""))


def _month(text: Any) -> str:
    try:
        return f"{date.fromisoformat(str(text)[:10]):%b %Y}"
    except ValueError:
        return str(text)


def verdict(figures: dict[str, Any]) -> None:
    """The chosen method's record against Phase 3's target (90% of months within ±5%), and why it stands there."""
    n = int(figures.get("months") or 0)
    w5, w10 = figures.get("within_5pct"), figures.get("within_10pct")
    cols = st.columns(5)
    cols[0].metric("Months within ±5%", share(w5), help="Phase 3's target: 90% of months within ±5%.",
                   delta=None if w5 is None else f"{(w5 - TARGET) * 100:+.0f} pts vs the 90% target")
    cols[1].metric("Months within ±10%", share(w10))
    cols[2].metric("MAPE", share(figures.get("mape")), help="Mean absolute error as a share of the actual month.")
    cols[3].metric("80% interval held", share(figures.get("coverage_80")), help="An honest 80% interval holds in "
                   "about 80% of months.")
    cols[4].metric("95% interval held", share(figures.get("coverage_95")))
    chosen = SHORT.get(figures.get("model") or "", figures.get("label"))
    st.caption(f"The chosen method ({chosen}), one month ahead; n = {n} backtest months.")
    st.markdown(verdict_text(figures))
    if bar := bar_text(figures):
        st.caption(bar)


def bar_text(figures: dict[str, Any]) -> str:
    """The backtest's own bar (at least 80% of months within ±10%, the 80% interval holding in 70–90% of them): met
    or not, in the run's figures."""
    w10, c80 = figures.get("within_10pct"), figures.get("coverage_80")
    if w10 is None or c80 is None:
        return ""
    met = w10 >= BAR_WITHIN_10 and BAR_COVERAGE[0] <= c80 <= BAR_COVERAGE[1]
    text = (f"The backtest's bar (at least 80% of months within ±10%, the 80% interval holding in 70–90% of them) "
            f"is {'met' if met else 'not met'}: {w10:.0%} within ±10%, the 80% interval held in {c80:.0%}.")
    n = int(figures.get("months") or 0)
    if n:
        held = round(c80 * n)
        lo, hi = proportion_confint(held, n, alpha=0.05, method="wilson")
        text += (f" That is {held} of {n} months: its 95% interval, {lo:.0%}–{hi:.0%}, is too wide to tell an "
                 "honest 80% interval from a somewhat wide or narrow one.") if hi - lo > 0.2 else ""
    return text


def verdict_text(figures: dict[str, Any]) -> str:
    """Phase 3's verdict in words: met or not, the figure, and why."""
    n = int(figures.get("months") or 0)
    w5, w10 = figures.get("within_5pct"), figures.get("within_10pct")
    if w5 is None or not n:
        return "Phase 3's target (90% of months within ±5%) cannot be judged: no month was scored."
    hits5, hits10 = round(w5 * n), round((w10 or 0) * n)
    small = f" With only {n} months, one month more or less moves the share by {1 / n:.0%}." if n < 30 else ""
    if w5 >= TARGET:
        return (f":green[**Phase 3's accuracy target is met:**] {hits5} of {n} backtest months ({w5:.0%}) were within "
                f"±5%, against a target of 90%.{small}")
    text = (f":orange[**Phase 3's accuracy target is not met.**] The target is 90% of months within ±5%; the forecast "
            f"was within ±5% in {hits5} of {n} backtest months ({w5:.0%}) and within ±10% in {hits10} ({w10:.0%}), "
            f"with a mean absolute error of {share(figures.get('mape'))}.")
    why = _why(figures)
    if figures.get("beats_baseline"):
        why += (f" It does beat the best rule that needs no model ({forecast.label_of(figures.get('baseline') or '')}:"
                f" MAPE {share(figures.get('baseline_mape'))}).")
    if figures.get("selected_mape") is not None:
        why += (f" Scored out of time (choosing each month only from the months before it), the choice has a MAPE of "
                f"{share(figures.get('selected_mape'))} and {share(figures.get('selected_within_10pct'))} of months "
                "within ±10%.")
    return f"{text}\n\n{why}{small}"


def _why(figures: dict[str, Any]) -> str:
    c80, c95 = figures.get("coverage_80"), figures.get("coverage_95")
    held = f"its 80% interval held in {share(c80)} of months and its 95% interval in {share(c95)}"
    honest = c80 is not None and c80 >= 0.7
    reach5, reach10 = figures.get("attainable_5pct"), figures.get("attainable_10pct")
    reach = "" if reach5 is None else (
        f"Even a forecast whose spread were exactly right would land within ±5% in about {share(reach5)} of these "
        f"months and within ±10% in about {share(reach10)}: that is as far as this many deals, of these sizes, "
        "let any method go. ")
    return ("Why: a month's bookings turn on a few large deals landing or slipping, so they swing by more than ±5% "
            f"from month to month however they are forecast. {reach}"
            f"The forecast says so rather than hide it: {held}" +
            (", so its wide intervals are honest about that spread. Reading the interval, not the single figure, is "
             "what the forecast supports." if honest else
             ", less often than it should: read it as narrower than the real uncertainty."))


def _predictions_chart(predictions: pl.DataFrame, chosen: str, label: str) -> None:
    rows = predictions.filter((pl.col("model") == chosen) & (pl.col("horizon") == 1)).sort("month")
    if rows.is_empty():
        return
    rows = rows.with_columns(label=pl.col("month").dt.strftime("%b %Y"))
    x = alt.X("label:O", sort=rows["label"].to_list(), title=None, axis=alt.Axis(labelAngle=-45))
    base = alt.Chart(rows, title=f"The chosen method's one-month forecasts against what was won "
                                                f"({label})").encode(x=x)
    band = base.mark_area(opacity=0.3, color=charts.ACCENT).encode(
        y=alt.Y("lo80:Q", title="won revenue", axis=alt.Axis(format="$,.2s")), y2="hi80:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(color=charts.ACCENT), color=charts.ACCENT,
                          strokeDash=[4, 3]).encode(y="forecast:Q")
    actual = base.mark_line(point=alt.OverlayMarkDef(color="#111827"), color="#111827").encode(
        y="actual:Q", tooltip=[alt.Tooltip("label:O", title="month"),
                               alt.Tooltip("actual:Q", title="won", format="$,.0f"),
                               alt.Tooltip("forecast:Q", title="forecast", format="$,.0f"),
                               alt.Tooltip("lo80:Q", title="80% from", format="$,.0f"),
                               alt.Tooltip("hi80:Q", title="80% to", format="$,.0f")])
    ui.chart(alt.layer(band, line, actual).properties(height=280), key=f"{KEY}.backtest.chart")
    st.caption("Black: won revenue. Dashed: the forecast made at the start of that month; the band: its 80% interval.")


# ---------------------------------------------------------------- the pipeline's models


def pipeline_section(out: dict[str, Any]) -> None:
    win, close = out.get("win_model") or {}, out.get("close_model") or {}
    with st.expander("How the pipeline simulation works, and its win model's card"):
        st.markdown(
            "Every open deal is won with its calibrated chance and closes on a date drawn from how long deals like "
            "it (stage, age, size) took to be won or lost; deals not created yet arrive at each rep's recent rate "
            f"with last year's seasonality. This is drawn {out.get('draws', 0):,} times: the median and intervals "
            "are read off the draws.")
        if win:
            st.markdown(win_card_text(win))
        if close.get("curves"):
            st.caption(f"Close dates: {close['method']}; {close['curves']} curves from {close.get('rows', 0):,} "
                       "snapshots of open deals.")


def win_card_text(card: dict[str, Any]) -> str:
    """The win model's card in a few lines: method, data, its out-of-time check against the rule."""
    used = "a calibrated logistic regression" if card.get("method") == "model" else \
        f"the rule ({card.get('baseline')})"
    lines = [f"**Win chance:** {used}. {card.get('note', '')}",
             f"Learnt from {card.get('rows', 0):,} monthly snapshots of {card.get('deals', 0):,} deals "
             f"({_day(card.get('from'))} – {_day(card.get('to'))}); overall win rate "
             f"{share(card.get('overall_rate'))}."]
    if card.get("auc") is not None:
        lines.append(f"Out of time ({card.get('test_rows', 0):,} snapshots from {_day(card.get('test_from'))}): "
                     f"AUC {card['auc']:.3f} against the rule's {card['baseline_auc']:.3f}; Brier "
                     f"{card['brier']:.3f} against {card['baseline_brier']:.3f} (lower is better).")
    return "  \n".join(lines)


def _day(text: Any) -> str:
    try:
        return f"{datetime.fromisoformat(str(text)):%d %b %Y}"
    except ValueError:
        return "–"
