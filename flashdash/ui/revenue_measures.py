"""The Revenue page's Measures tab: Phase 3's three targets as cards. Deal velocity (the average days from a
deal's creation to its win, 25% fewer) and deal size (the average won deal, 30% larger) compare the last 90 days
with the 90 before, each with the change's 95% interval and n on both sides; forecast accuracy (90% of months
within ±5%) is the share of the forecast's backtest months within ±5%, from the latest stored forecast run.

Reps see their own figures, managers their teams', analysts, executives and admins everyone's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import streamlit as st

from flashdash import clock, forecast, phase2, revenue
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import Store
from flashdash.ui import components as ui
from flashdash.ui.revenue_pipeline import money, pct
from flashdash.ui.store import cached, show_problem

KEY = "rev.measures"
STATUS = {phase2.MET: ":green[**target met**]", phase2.NOT_MET: ":orange[**not met yet**]",
          phase2.NO_BASELINE: ":gray[**no baseline to compare with**]",
          phase2.NO_FIGURE: ":gray[**nothing measured yet**]"}


# ---------------------------------------------------------------- the reads


def backtest_accuracy(run: Mapping[str, Any]) -> dict[str, Any]:
    """What phase3_targets asks of the forecast (share_within_5pct and n, the backtest months) from a
    latest_forecast result; no share when the run holds no backtest figures."""
    figures = run.get("figures") or {}
    return {"share_within_5pct": figures.get("within_5pct"), "n": int(figures.get("months") or 0)}


def targets(store: Store, actor: Actor, now: datetime, share_within_5pct: float | None, months: int) -> pl.DataFrame:
    """phase3_targets with forecast accuracy as read from the latest forecast run (passed in, so that the run is
    read once and cached beside the Forecast tab's read)."""
    measured = {"share_within_5pct": share_within_5pct, "n": months}
    return revenue.phase3_targets(store, actor, now, forecast_accuracy=lambda _store, _actor, _now: measured)


# ---------------------------------------------------------------- the card texts


def value_text(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "amount":
        return money(value)
    if unit == "days":
        return f"{value:.1f} days"
    return pct(value)


def change_text(row: Mapping[str, Any]) -> str | None:
    return None if row["change"] is None else f"{row['change']:+.1%}"


def change_interval_text(row: Mapping[str, Any]) -> str:
    """The change's 95% interval, and whether it rules out no change at all."""
    lo, hi = row["change_lo"], row["change_hi"]
    if lo is None or hi is None:
        return "No interval: it takes two won deals on each side."
    text = f"95% interval of the change: {lo:+.1%} to {hi:+.1%}."
    if lo <= 0 <= hi:
        text += " It includes no change: the difference may be chance."
    return text


def target_text(row: Mapping[str, Any]) -> str:
    """The target and whether it is met (markdown: a bare $ would start a formula)."""
    return f"target {target_level(row)} · {STATUS[row['status']]}".replace("$", r"\$")


def n_text(row: Mapping[str, Any]) -> str:
    """n on both sides; the early-sign note only where there is a change to judge (none without deals)."""
    text = (f"n = {row['n_current']:,} {row['counted']} in the {row['current_label']}, {row['n_baseline']:,} in the "
            f"{row['baseline_label']}")
    judged = row["status"] in (phase2.MET, phase2.NOT_MET)
    return f"{text}. {_sentence(row['note'])}" if row["note"] and judged else f"{text}."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def forecast_source(run: Mapping[str, Any]) -> str:
    """Where the accuracy figure comes from, or why there is none (markdown-free text)."""
    figures = run.get("figures") or {}
    if run.get("as_of") is None:
        return ("The forecast refresh job has not run on this store yet, so there is no backtest to measure. An "
                "admin can run it under Admin → Jobs.")
    if not figures:
        if run.get("scoped"):
            return (f"The forecast of your deals (as of {run['as_of']:%d %b %Y}) reuses the company-wide model and "
                    "is not backtested on its own, so there is no accuracy figure in your scope. The company-wide "
                    "backtest is read by analysts, executives and admins.")
        return run.get("note") or "The latest forecast run holds no backtest figures."
    months = f" ({figures['from'][:7]} to {figures['to'][:7]})" if figures.get("from") and figures.get("to") else ""
    label = run.get("chosen_label") or figures.get("label") or "the chosen method"
    return (f"One-month-ahead backtest of the forecast run of {run['as_of']:%d %b %Y %H:%M}: {figures['months']} "
            f"rolling-origin months{months}, method: {label}. Within ±10%: {pct(figures.get('within_10pct'))}; "
            f"MAPE {pct(figures.get('mape'), 1)}.")


# ---------------------------------------------------------------- the tab


def render(actor: Actor, filters: Filters) -> None:
    """Draw the tab (Phase 3's targets are measured to today: the sidebar's period does not apply)."""
    del filters
    now = clock.now().replace(second=0, microsecond=0)  # one cache entry per minute, not per rerun
    try:
        run = cached(forecast.latest_forecast, actor)
        accuracy = backtest_accuracy(run)
        rows = cached(targets, actor, now, accuracy["share_within_5pct"], accuracy["n"])
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    end = now.date()
    start = end - timedelta(days=revenue.TARGET_DAYS - 1)
    b0, b1 = phase2.previous_period(start, end)
    whose = ui.scope_phrase(actor, "deals", everyone="Every deal")
    st.caption(f"{whose}: the deals won in the last {revenue.TARGET_DAYS} days ({start:%d %b} – "
               f"{end:%d %b %Y}) against those won in the {revenue.TARGET_DAYS} days before ({b0:%d %b} – "
               f"{b1:%d %b %Y}); forecast accuracy from the forecast's backtest. The sidebar's period and filters do "
               "not apply to these measures.")
    by_key = {r["key"]: r for r in rows.iter_rows(named=True)}
    cols = st.columns(3)
    with cols[0].container(border=True, height="stretch"):
        change_card(by_key["deal_velocity"], "Average days from creation to win", lower_is_better=True,
                    means="25% faster deals: 25% fewer days from a deal's creation to its win.")
    with cols[1].container(border=True, height="stretch"):
        change_card(by_key["deal_size"], "Average won deal (annual revenue)", lower_is_better=False,
                    means="30% larger deals: the average won deal 30% above the 90 days before.")
    with cols[2].container(border=True, height="stretch"):
        accuracy_card(by_key["forecast_accuracy"], run)
    ui.table(table_rows(rows, forecast_source(run)), "phase3_targets", key=f"{KEY}.table", column_config={
        "change": st.column_config.NumberColumn(format="percent", step=0.001),
        "change 95% low": st.column_config.NumberColumn(format="percent", step=0.001),
        "change 95% high": st.column_config.NumberColumn(format="percent", step=0.001),
        "note": st.column_config.TextColumn(width="large")})
    st.caption("The interval of a change is the delta method on the log of the ratio of the two means (95%). A "
               "change is judged against its target on its own figure; where its interval includes no change, the "
               "difference may be chance.")



def change_card(row: Mapping[str, Any], label: str, *, lower_is_better: bool, means: str) -> None:
    """A target measured as a change: the figure now, the baseline, the change with its interval, the target, n."""
    st.markdown(f"**{row['label']}**")
    st.metric(label, value_text(row["current"], row["unit"]), delta=change_text(row),
              delta_color="inverse" if lower_is_better else "normal",
              delta_description=(f"vs {value_text(row['baseline'], row['unit'])} in the {row['baseline_label']}"
                                 if row["baseline"] is not None else f"no figure in the {row['baseline_label']}"),
              help=f"{row['label']}: {row['measure']}, {row['current_label']} against the {row['baseline_label']}.")
    if row["change"] is not None:
        st.caption(change_interval_text(row))
    st.markdown(target_text(row))
    st.caption(n_text(row))
    if row["current"] is None:
        st.caption(f"No deal was won in the {row['current_label']}, so there is nothing to measure yet.")
    elif row["baseline"] is None:
        st.caption(f"No deal was won in the {row['baseline_label']}, so there is no baseline to compare with.")
    st.caption(means)


def accuracy_card(row: Mapping[str, Any], run: Mapping[str, Any]) -> None:
    """Forecast accuracy: a level (a share of backtest months), not a change."""
    st.markdown(f"**{row['label']}**")
    st.metric("Backtest months within ±5%", value_text(row["current"], row["unit"]),
              help="The share of backtest months whose one-month-ahead forecast was within ±5% of the revenue won.")
    st.markdown(target_text(row))
    if row["current"] is not None:
        note = f" {_sentence(row['note'])}" if row["note"] else ""
        st.caption(f"n = {row['n_current']:,} {row['counted']}; a level to reach, not a change from a baseline.{note}")
    st.caption(forecast_source(run))
    st.caption("90% forecast accuracy within a 5% margin: nine months in ten forecast within ±5%.")


def table_rows(rows: pl.DataFrame, no_forecast: str) -> pl.DataFrame:
    """The targets as one table, each figure in its own unit (days, dollars, a share), for reading side by side and
    downloading; `no_forecast` is the note of a forecast accuracy without a figure (why there is none)."""
    out = []
    for r in rows.iter_rows(named=True):
        unmeasured = r["key"] == "forecast_accuracy" and r["current"] is None
        out.append({"target name": r["label"], "now": value_text(r["current"], r["unit"]),
                    "baseline": value_text(r["baseline"], r["unit"]), "change": r["change"],
                    "change 95% low": r["change_lo"], "change 95% high": r["change_hi"],
                    "target": target_level(r), "status": r["status"], "n now": r["n_current"],
                    "n baseline": r["n_baseline"], "counted": r["counted"], "measure": r["measure"],
                    "note": no_forecast if unmeasured else table_note(r)})
    return pl.DataFrame(out, schema={"target name": pl.String, "now": pl.String, "baseline": pl.String,
                                     "change": pl.Float64, "change 95% low": pl.Float64,
                                     "change 95% high": pl.Float64, "target": pl.String, "status": pl.String,
                                     "n now": pl.Int64, "n baseline": pl.Int64, "counted": pl.String,
                                     "measure": pl.String, "note": pl.String})


def table_note(row: Mapping[str, Any]) -> str:
    """The domain's note where a change is judged; otherwise why nothing is."""
    if row["status"] in (phase2.MET, phase2.NOT_MET):
        return row["note"]
    if row["current"] is None:
        return f"nothing measured: no deal won in the {row['current_label']}"
    return f"no baseline: no deal won in the {row['baseline_label']}"


def target_level(row: Mapping[str, Any]) -> str:
    """The target in words: a change (with the figure that meets it) or a level."""
    if row["key"] == "forecast_accuracy":
        return f"{row['target']:.0%} of months"
    needed = f" ({'≤' if row['target'] < 0 else '≥'} {value_text(row['needed'], row['unit'])})" \
        if row["needed"] is not None else ""
    return f"{row['target']:+.0%}{needed}"
