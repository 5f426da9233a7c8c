"""The Revenue page's Deal risk tab: the open deals' risk levels with their reasons as the last scheduled refresh
stored them (riskiest first, filterable by level, rep and stage), the risk model's out-of-time evaluation, and each
warning sign checked against the closed deals' history.

Every role reads the open and closed deals in its own scope; the model itself learns from every team's deals (so a
deal's risk does not depend on who looks) and its evaluation is an aggregate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from flashdash import charts, clock, deal_risk, schedule
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.performance_panel import interval_text
from flashdash.ui.store import cached, show_problem

KEY = "rev.risk"
LEVELS = ("high", "medium", "low")
LEVEL_ICONS = {"high": ":material/error:", "medium": ":material/warning:", "low": ":material/check_circle:"}
PERCENT = st.column_config.NumberColumn(format="percent")
# a deal without signs can still be medium: its chance is that of past deals at its stage without any sign
NO_SIGN = ("No warning sign: its chance of losing comes from the stage it is at (the base rate when the model is not "
           "used).")


def render(actor: Actor, filters: Filters) -> None:
    now = clock.now().replace(second=0, microsecond=0)
    try:
        out = cached(deal_risk.latest, actor)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if out["run"] is None:
        st.info("No deal risk has been computed on this store yet: the refresh_deal_risk job has not run. It runs "
                "every hour at 25 past while the scheduler is running (`make run` starts it); an admin can also run "
                "it now under Admin → Jobs. The open deals' levels appear here once it has.",
                icon=":material/schedule:")
    else:
        _computed(out, now)
        deals_section(actor, out["deals"])
        st.divider()
        evaluation_section(out["run"])
    st.divider()
    history_section(actor, now)


def _computed(out: dict[str, Any], now: datetime) -> None:
    run = out["run"]
    st.caption(f"Computed {out['computed_at']:%d %b %Y at %H:%M} by the refresh_deal_risk job over "
               f"{run.get('deals', 0):,} open deals of every team; the sidebar's period and filters do not apply "
               "(open deals are as they stood then): narrow the list with the filters below.")
    try:
        item = cached(schedule.freshness_of, "Deal risk", now)
    except (ValueError, StoreError):
        return  # the computed time above is what matters; the schedule only adds when the next refresh is due
    if item.stale:
        ui.freshness(item, "These risks")


# ---------------------------------------------------------------- the open deals


def reasons_text() -> pl.Expr:
    """A deal's reasons as sentences: each capitalised and closed with a full stop (NO_SIGN for none)."""
    sentence = pl.concat_str(pl.element().str.slice(0, 1).str.to_uppercase(), pl.element().str.slice(1), pl.lit("."))
    joined = pl.col("reasons").list.eval(sentence).list.join(" ")
    return pl.when(pl.col("reasons").list.len() > 0).then(joined).otherwise(pl.lit(NO_SIGN))


def ordered(deals: pl.DataFrame) -> pl.DataFrame:
    """High level first, then the highest chance of losing, then the largest amount."""
    rank = pl.col("level").replace_strict({lvl: i for i, lvl in enumerate(LEVELS)}, default=len(LEVELS),
                                          return_dtype=pl.Int8)
    return deals.sort([rank, "score", "amount"], descending=[False, True, True], nulls_last=True)


def deals_view(deals: pl.DataFrame) -> pl.DataFrame:
    """The deals as the table shows them, in their order, with the reasons as readable sentences."""
    return deals.select(
        pl.col("level").alias("risk"), pl.col("merchant_name").alias("merchant"), reasons_text().alias("why"),
        pl.col("score").alias("chance of losing"), "amount", "rep", "stage",
        pl.col("expected_close").alias("expected close"))


def _filtered(actor: Actor, deals: pl.DataFrame) -> pl.DataFrame:
    cols = st.columns(3 if actor.role != "rep" else 2)
    levels = cols[0].multiselect("Level", LEVELS, default=list(LEVELS), key=f"{KEY}.level")
    stages = sorted(deals["stage"].unique().to_list(), key=lambda s: deal_risk.OPEN_STAGES.index(s)
                    if s in deal_risk.OPEN_STAGES else 99)
    picked_stages = cols[1].multiselect("Stage", stages, key=f"{KEY}.stage", placeholder="Every stage")
    out = deals.filter(pl.col("level").is_in(levels))
    if picked_stages:
        out = out.filter(pl.col("stage").is_in(picked_stages))
    if actor.role != "rep":  # a rep's list is their own: there is no one else to pick
        reps = sorted(deals["rep"].drop_nulls().unique().to_list())
        picked_reps = cols[2].multiselect("Rep", reps, key=f"{KEY}.rep", placeholder="Every rep")
        if picked_reps:
            out = out.filter(pl.col("rep").is_in(picked_reps))
    return out


def deals_section(actor: Actor, deals: pl.DataFrame) -> None:
    st.subheader("Open deals by risk")
    if deals.is_empty():
        st.info("There are no open deals in your scope at the last refresh.", icon=":material/search_off:")
        return
    counts = dict(deals.group_by("level").len().iter_rows())
    amounts = dict(deals.group_by("level").agg(pl.col("amount").sum()).iter_rows())
    for col, level in zip(st.columns(3), LEVELS, strict=True):
        col.metric(f"{level.capitalize()} risk", f"{counts.get(level, 0):,} deals", icon=LEVEL_ICONS[level],
                   delta=f"${amounts.get(level, 0.0) or 0.0:,.0f}", delta_color="off",
                   delta_arrow="off", help="Open deals at this level and their amount.")
    picked_deals = ordered(_filtered(actor, deals))
    shown = deals_view(picked_deals)
    if shown.is_empty():
        st.info("No open deal matches these filters: widen the level, stage or rep.", icon=":material/search_off:")
        return
    ui.table(shown, "deal_risk", key=f"{KEY}.deals", on_select="rerun", selection_mode="single-row", row_height=84,
             height=560,
             column_config={
                 "risk": st.column_config.TextColumn(width=76),
                 "merchant": st.column_config.TextColumn(width=140),
                 "chance of losing": st.column_config.ProgressColumn(
                     "loss chance", format="percent", min_value=0.0, max_value=1.0, width=96,
                     help="The loss rate of past deals with the same signs at the same stage (or the base rate "
                          "when the model is not used)."),
                 "amount": st.column_config.NumberColumn(format="dollar", width=90),
                 "rep": st.column_config.TextColumn(width=120),
                 "expected close": st.column_config.DateColumn(format="D MMM YYYY"),
                 "why": st.column_config.TextColumn("why (warning signs)", width=400,
                                                    help="Select the row to read them one by one.")})
    picked = ui.selected_rows(f"{KEY}.deals")
    if picked and picked[0] < picked_deals.height:
        _one_deal(picked_deals.row(picked[0], named=True))
    else:
        st.caption("Select a deal's row to read its reasons one by one.")


def _one_deal(row: dict[str, Any]) -> None:
    with st.container(border=True):
        st.markdown(f"{LEVEL_ICONS.get(row['level'], '')} **{md_escape(row['merchant_name'] or '')}** · "
                    f"{row['stage']} · ${row['amount']:,.0f} · {row['level']} risk ({row['score']:.0%} chance of "
                    f"losing) · {md_escape(row['rep'] or '')}")
        if row["reasons"]:
            st.markdown("\n".join(f"- {md_escape(r[:1].upper() + r[1:])}" for r in row["reasons"]))
        else:
            st.markdown(NO_SIGN)


# ---------------------------------------------------------------- the model's evaluation


def evaluation_section(run: dict[str, Any]) -> None:
    st.subheader("How well the risk levels have held up")
    if "auc" not in run:
        st.warning(f"{run.get('why') or 'The model could not be judged.'} Each deal's level comes from its number of "
                   "warning signs (0 low, 1–2 medium, 3 or more high).", icon=":material/data_alert:")
        return
    (st.success if run["used"] else st.warning)(run["why"], icon=":material/fact_check:" if run["used"]
                                                 else ":material/warning:")
    low, high = run["auc_ci"]
    cols = st.columns(4)
    cols[0].metric("AUC (out of time)", f"{run['auc']:.2f}", help="How often a deal later lost was scored above one "
                   f"later won: 0.5 is chance, 1 perfect. 95% interval {low:.2f}–{high:.2f} (bootstrap over deals).")
    cols[0].caption(f"95% interval {low:.2f}–{high:.2f}")
    cols[1].metric("Brier score", f"{run['brier']:.3f}", delta=f"{run['brier'] - run['brier_base']:+.3f} vs base rate",
                   delta_color="inverse", help="Mean squared error of the predicted chance of losing: lower is better.")
    cols[1].caption(f"Base rate alone: {run['brier_base']:.3f}")
    cols[2].metric("Base loss rate", f"{run['base_rate']:.0%}", help="The share of weekly reviews of training deals "
                   "that were later lost: what every deal would be scored without the signs.")
    cols[3].metric("Test deals", f"{run['test_deals']:,}", help=f"{run['test_reviews']:,} weekly reviews")
    st.caption(f"Fitted on {run['train_reviews']:,} weekly reviews of {run['train_deals']:,} deals from "
               f"{str(run['train_from'])[:10]} to {str(run['cutoff'])[:10]}; tested on {run['test_reviews']:,} "
               f"reviews of {run['test_deals']:,} deals after it, up to {str(run['test_to'])[:10]}. Signs used: "
               f"{', '.join(run.get('signs_used') or []) or 'none'}.")
    left, right = st.columns(2)
    with left:
        calibration = pl.DataFrame(run["calibration"]).rename({"n": "count"})
        ui.chart(charts.calibration(calibration, title="Calibration on the test reviews").properties(height=280),
                 key=f"{KEY}.calibration")
    with right:
        st.markdown("**Reading the calibration**")
        st.caption("Test reviews in five equal groups by predicted chance of losing: each point is the group's "
                   "average prediction against the share later lost. On the dashed diagonal, a predicted 60% came "
                   "true 60% of the time.")
        levels = run.get("levels") or {}
        if levels:
            st.caption("At the refresh, across every team: " + ", ".join(
                f"{levels.get(lvl, 0):,} {lvl}" for lvl in LEVELS) + ".")
        st.caption("The signs go with losing; they are not its causes: a deal may stall because it is already lost.")


# ---------------------------------------------------------------- the signs against history


def history_view(frame: pl.DataFrame) -> pl.DataFrame:
    interval = interval_text()
    return frame.select(
        "sign", "verdict", pl.col("odds_ratio").alias("odds ratio"), interval.alias("95% interval"),
        pl.col("loss_rate_with").alias("lost, with it"), pl.col("deals_with").alias("deals with it"),
        pl.col("loss_rate_without").alias("lost, without"), pl.col("deals_without").alias("deals without"),
        pl.col("reviews").alias("reviews"), "wording")


def history_section(actor: Actor, now: datetime) -> None:
    st.subheader("The warning signs against history")
    try:
        frame = cached(deal_risk.check_against_history, actor, now)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    deals = int(frame["deals"].max() or 0) if frame.height else 0
    whose = ui.scope_phrase(actor, "")
    st.caption(f"{whose} {deals:,} closed deals, looked at as they stood at each weekly review while open: "
               "per sign, how many showed it and how often they were later lost, against those that never did, "
               "and the odds ratio of a later loss at the same stage (95% interval clustered by deal).")
    estimated = frame.filter(pl.col("odds_ratio").is_not_null())
    if estimated.is_empty():
        st.warning(" ".join(frame["wording"].unique(maintain_order=True).to_list()) or
                   "No sign could be checked against these deals.", icon=":material/data_alert:")
    else:
        ui.chart(charts.forest(estimated, label="sign", estimate="odds_ratio", low="ci_low", high="ci_high",
                               title="Odds ratio of a later loss, with the sign against without"),
                 key=f"{KEY}.history.chart")
        st.caption("Right of the dashed line (1): deals showing the sign were lost more often than deals at the same "
                   "stage without it; left: less often. Grey: the interval includes 1, no clear association. These "
                   "are associations in past deals, not causes.")
    ui.table(history_view(frame), "deal_risk_signs_against_history", key=f"{KEY}.history", column_config={
        "lost, with it": PERCENT, "lost, without": PERCENT,
        "odds ratio": st.column_config.NumberColumn(format="%.2f"),
        "reviews": st.column_config.NumberColumn(help="The weekly reviews of these deals while open: the n of the "
                                                 "odds ratio."),
        "wording": None})  # the sentences follow in full (the downloads keep them)
    st.markdown("\n".join(f"- {md_escape(w)}" for w in frame["wording"].to_list()))

