"""The Activities page's Measures tab: Phase 2's three targets (manual data entry, follow-up compliance, email
engagement) against their baselines with the counts behind them, the detail under each, and which activities
and timings are associated with stage progress and wins once lead quality is adjusted for.

Reps see their own figures, managers their team's (with a row per rep), analysts and admins everyone's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import charts, clock, effectiveness, phase2
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

KEY = "act.measures"
STATUS = {phase2.MET: ":green[**target met**]", phase2.NOT_MET: ":orange[**not met yet**]",
          phase2.NO_BASELINE: ":gray[**no baseline to compare with**]",
          phase2.NO_FIGURE: ":gray[**nothing measured in the period**]"}
PERCENT = st.column_config.NumberColumn(format="percent")


def render(actor: Actor, filters: Filters) -> None:
    now = clock.now().replace(second=0, microsecond=0)  # one cache entry per minute, not per rerun
    try:
        out = cached(phase2.measures, actor, filters.start, filters.end, now)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    b0, b1 = out["baseline_period"]
    whose = ui.scope_phrase(actor, "figures", everyone="Everyone's figures")
    st.caption(f"{whose} for {filters.start:%d %b %Y} – {filters.end:%d %b %Y}; where a target is over time "
               f"the baseline is the {filters.days} days before ({b0:%d %b} – {b1:%d %b %Y}). The sidebar's period "
               "applies; its team and rep filters do not narrow these measures.")
    targets = {r["key"]: r for r in out["targets"].iter_rows(named=True)}
    cols = st.columns(3)
    _data_entry_card(cols[0], targets["data_entry"], out["data_entry"])
    _compliance_card(cols[1], targets["compliance"])
    _email_card(cols[2], targets["open_rate"], targets["click_rate"])
    compliance_detail(actor, out, targets["compliance"])
    data_entry_detail(out["data_entry"])
    email_detail(actor, out)
    effectiveness_section(actor, now)



# ---------------------------------------------------------------- the target cards


def fmt_value(value: float | None, unit: str) -> str:
    """A figure as the card shows it: a share as a percentage, a count per activity with one decimal."""
    if value is None:
        return "–"
    return f"{value:.0%}" if unit == "share" else f"{value:.1f}"


def change_text(row: dict[str, Any]) -> str | None:
    """The card's delta: the relative change; None when there is no change to show."""
    return None if row["change"] is None else f"{row['change']:+.0%}"


def baseline_text(row: dict[str, Any]) -> str:
    """What the figure is compared with."""
    if row["baseline"] is None:
        return f"no figure {row['baseline_label']}"
    return f"vs {fmt_value(row['baseline'], row['unit'])} {row['baseline_label']}"


def target_text(row: dict[str, Any]) -> str:
    """The target, the figure that meets it, and whether it is met."""
    aim = f"target {row['target']:+.0%}"
    if row["needed"] is not None:
        bound = "≤" if row["target"] < 0 else "≥"
        aim += f" ({bound} {fmt_value(row['needed'], row['unit'])})"
    return f"{aim} · {STATUS[row['status']]}"


def n_text(row: dict[str, Any]) -> str:
    text = (f"n = {row['n_current']:,} {row['counted']} {row['current_label']}, {row['n_baseline']:,} "
            f"{row['baseline_label']}")
    if row["few"] and row["status"] in (phase2.MET, phase2.NOT_MET):
        text += f". Fewer than {phase2.MIN_N} on a side: an early sign, not a finding"
    return text


def _metric(row: dict[str, Any], label: str, *, lower_is_better: bool = False) -> None:
    st.metric(label, fmt_value(row["current"], row["unit"]), delta=change_text(row),
              delta_color="inverse" if lower_is_better else "normal", delta_description=baseline_text(row),
              help=f"{row['label']}: {row['measure']}, {row['current_label']} against {row['baseline_label']}.")
    st.markdown(target_text(row))
    st.caption(n_text(row))


def _data_entry_card(col: Any, row: dict[str, Any], entry: dict[str, Any]) -> None:
    with col.container(border=True, height="stretch"):
        st.markdown("**Manual data entry**")
        _metric(row, "Fields typed per activity with a template", lower_is_better=True)
        left = entry["not_measured"]
        if left:
            st.caption(f"{left:,} activities in the period carry no count of fields typed (demo data, imports, CSV, "
                       "sequences) and are left out.")


def _compliance_card(col: Any, row: dict[str, Any]) -> None:
    with col.container(border=True, height="stretch"):
        st.markdown("**Follow-up compliance**")
        _metric(row, "Tasks due in the period done on time")


def _email_card(col: Any, opens: dict[str, Any], clicks: dict[str, Any]) -> None:
    with col.container(border=True, height="stretch"):
        st.markdown("**Email engagement**")
        _metric(opens, "Emails opened")
        _metric(clicks, "Emails clicked")
        st.caption("Opens are a lower bound: clients that block images hide them (a click counts as an open), "
                   "and some privacy features open every email they receive.")


# ---------------------------------------------------------------- the detail


def compliance_chart(weekly: pl.DataFrame, needed: float | None) -> alt.LayerChart | alt.Chart:
    """The on-time share week by week, with the level that meets the target as a dashed line."""
    data = weekly.filter(pl.col("due") > 0).select("week", "due", "done_on_time", "rate")
    line = alt.Chart(data, title="Tasks done on time, by the week they were due").mark_line(point=True).encode(
        x=alt.X("week:T", title=None), y=alt.Y("rate:Q", title="on time", axis=alt.Axis(format=".0%"),
                                                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("week:T", title="week of"), alt.Tooltip("rate:Q", format=".0%", title="on time"),
                 alt.Tooltip("done_on_time:Q", title="done on time"), alt.Tooltip("due:Q", title="due")])
    if needed is None:
        return line
    level = pl.DataFrame({"target": [needed], "label": [f"target: {needed:.0%}"]})
    rule = alt.Chart(level).mark_rule(strokeDash=[6, 4], color="#16a34a").encode(y="target:Q")
    text = alt.Chart(level).mark_text(align="left", dx=4, dy=-6, color="#16a34a").encode(
        y="target:Q", x=alt.value(0), text="label:N")
    return line + rule + text


def compliance_detail(actor: Actor, out: dict[str, Any], row: dict[str, Any]) -> None:
    st.subheader("Follow-up compliance")
    current = out["compliance"]
    weekly = current["weekly"]
    if weekly.is_empty() or not int(weekly["due"].sum()):
        ui.empty("No task was due in the period, so there is no on-time share to chart.")
    else:
        ui.chart(compliance_chart(weekly, row["needed"]), key=f"{KEY}.compliance.chart")
        if row["needed"] is None:
            st.caption("No target line: the previous period has no on-time share to improve on.")
    st.caption(f"In the period: {current['done_on_time']:,} done on time, {current['done_late']:,} late, "
               f"{current['missed']:,} missed (open past due), {current['pending']:,} pending (not yet due) and "
               f"{current['cancelled']:,} cancelled. The share is on time over due (on time + late + missed).")
    if actor.role != "rep":
        ui.table(current["by_rep"].drop("rep_id").rename({
            "done_on_time": "on time", "done_late": "late", "rate": "on-time share"}), "compliance_by_rep",
            key=f"{KEY}.compliance.reps", column_config={"on-time share": PERCENT})


def data_entry_detail(entry: dict[str, Any]) -> None:
    st.subheader("Manual data entry")
    weekly = entry["weekly"]
    if weekly.is_empty():
        ui.empty("No activity in the period was logged through the form with a count of the fields typed.")
        return
    ui.chart(charts.trend(weekly, "week", "mean_fields_typed", color="template_use", fmt=".1f",
                          y_title="fields typed per activity",
                          title="Fields typed per logged activity, by week, with and without a template"),
             key=f"{KEY}.entry.chart")
    ui.table(entry["frame"].rename({"template_use": "logged", "fields_typed": "fields typed",
                                    "mean_fields_typed": "per activity (mean)",
                                    "median_fields_typed": "per activity (median)"}),
             "data_entry", key=f"{KEY}.entry.table",
             column_config={"per activity (mean)": st.column_config.NumberColumn(format="%.2f")})


RATE_GROUPS = {"template": "By template", "sequence": "By sequence", "rep": "By rep"}


def email_detail(actor: Actor, out: dict[str, Any]) -> None:
    st.subheader("Email engagement")
    email = out["email"]
    if not email["sent"]:
        ui.empty("No email was sent in the period.")
        return
    groups = [g for g in RATE_GROUPS if g != "rep" or actor.role != "rep"]
    for tab, group in zip(st.tabs([RATE_GROUPS[g] for g in groups]), groups, strict=True):
        with tab:
            frame = out["rates"][group].drop("key").rename({"label": group})
            ui.table(frame, f"email_rates_by_{group}", key=f"{KEY}.email.{group}", column_config={
                "open_rate": st.column_config.NumberColumn("opened", format="percent"),
                "click_rate": st.column_config.NumberColumn("clicked", format="percent"),
                "reply_rate": st.column_config.NumberColumn("replied", format="percent"),
                "opened": st.column_config.NumberColumn("emails opened"),
                "clicked": st.column_config.NumberColumn("emails clicked"),
                "replied": st.column_config.NumberColumn("emails replied to")})


# ---------------------------------------------------------------- effectiveness


def effect_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The estimates as a table: raw rates, the adjusted odds ratio with its interval, and the domain's wording."""
    interval = pl.when(pl.col("ci_low").is_not_null()).then(
        pl.format("{}–{}", pl.col("ci_low").round(2), pl.col("ci_high").round(2))).otherwise(None)
    return frame.select(
        "factor", "outcome", "verdict", "n", pl.col("n_with").alias("n with"),
        pl.col("rate_with").alias("rate with"), pl.col("rate_without").alias("rate without"),
        pl.col("odds_ratio").alias("adjusted odds ratio"), interval.alias("95% interval"),
        pl.col("p_value").alias("p"), "wording")


def effectiveness_section(actor: Actor, now: datetime) -> None:
    st.subheader("Activity effectiveness")
    if actor.role not in effectiveness.READERS:
        st.info("Activity effectiveness is read by reps (their own book), managers, analysts and admins.",
                icon=":material/lock:")
        return
    as_of = now.replace(minute=0)  # the models are refitted at most hourly (or after a write)
    try:
        with st.spinner("Fitting the models for each outcome…"):
            out = cached(effectiveness.effectiveness, actor, as_of)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    st.info(out["note"], icon=":material/info:")
    st.caption(_sample_text(out))
    frame = out["frame"]
    estimated = frame.filter(pl.col("odds_ratio").is_not_null())
    if estimated.is_empty():
        reasons = frame.filter(pl.col("verdict") == effectiveness.NOT_ENOUGH)["wording"].unique(maintain_order=True)
        st.warning(" ".join(reasons.to_list()) or "No factor could be estimated from these leads.",
                   icon=":material/data_alert:")
    else:
        outcomes = estimated["outcome"].unique(maintain_order=True).to_list()
        for col, outcome in zip(st.columns(len(outcomes)), outcomes, strict=True):
            with col:
                rows = estimated.filter(pl.col("outcome") == outcome)
                ui.chart(charts.forest(rows, label="factor", estimate="odds_ratio", low="ci_low", high="ci_high",
                                       title=outcome[:1].upper() + outcome[1:]),
                         key=f"{KEY}.forest.{outcomes.index(outcome)}")
        st.caption("Each dot is the adjusted odds ratio, each bar its 95% interval. Right of the dashed line (1): "
                   "followed by the outcome more often than similar leads without the factor; left: less often. "
                   "Grey: the interval includes 1, no clear association. Factors without an estimate are in the "
                   "table only.")
    ui.table(effect_rows(frame), "activity_effectiveness", key=f"{KEY}.effect.table", column_config={
        "rate with": PERCENT, "rate without": PERCENT,
        "adjusted odds ratio": st.column_config.NumberColumn(format="%.2f"),
        "p": st.column_config.NumberColumn(format="%.3f"),
        "wording": st.column_config.TextColumn("what it says", width="large")})


def _sample_text(out: dict[str, Any]) -> str:
    parts = []
    for outcome in effectiveness.OUTCOMES:
        n, dates = out["n"][outcome.column], out["dates"][outcome.column]
        since = f" submitted {dates['submitted_from']:%d %b %Y} – {dates['submitted_to']:%d %b %Y}" \
            if dates["submitted_from"] else ""
        parts.append(f"{n:,} leads{since} for whether a lead {outcome.label}")
    return f"As of {out['dates']['as_of']:%d %b %Y %H:%M}: " + "; ".join(parts) + "."
