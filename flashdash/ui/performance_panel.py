"""The Revenue page's Performance tab, in three views: each rep's productivity against the benchmarks (which
managers and admins change here), which activities before a close go with winning once lead quality is adjusted
for, and coaching recommendations per rep with the evidence behind each.

A rep reads their own figures, a manager their team's, the others everyone's. Coaching compares with the top
quarter of every team's reps and takes its evidence from every team's closed deals (aggregates only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import charts, clock, performance
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.deal_size_panel import p_text
from flashdash.ui.store import cached, current_store, show_problem

KEY = "rev.perf"
FLASH = f"{KEY}.flash"  # what the last save changed, shown after the rerun that redraws the comparison
VIEWS = ("Productivity & benchmarks", "Activity to close", "Coaching")
METRIC_LABELS = {m.key: m.label for m in performance.METRICS}
FMT = {"calls_per_day": ".1f", "emails_per_day": ".1f", "meetings_per_week": ".1f", "median_response_hours": ".1f"}
PRODUCTIVITY_COLUMNS = {  # the four the issue names first: a narrow screen cuts the right of the table
    "rep": st.column_config.TextColumn("rep"),
    "team": st.column_config.TextColumn("team"),
    "calls_per_day": st.column_config.NumberColumn("calls / day", format="%.1f"),
    "emails_sent": st.column_config.NumberColumn("emails sent", format="%d"),
    "meetings_booked": st.column_config.NumberColumn("meetings booked", format="%d"),
    "median_response_hours": st.column_config.NumberColumn(
        "median response (h)", format="%.1f", help="Median hours from a lead's arrival to the rep's first response."),
    "emails_per_day": st.column_config.NumberColumn("emails / day", format="%.1f"),
    "meetings_per_week": st.column_config.NumberColumn("meetings / week", format="%.1f"),
    "demos": st.column_config.NumberColumn("demos", format="%d"),
    "leads_responded": st.column_config.NumberColumn("leads responded to", format="%d"),
    "working_days": st.column_config.NumberColumn("working days"),
    "title": st.column_config.TextColumn("title"),
}


def render(actor: Actor, filters: Filters) -> None:
    now = clock.now().replace(second=0, microsecond=0)  # one cache entry per minute, not per rerun
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/done:")
    view = st.segmented_control("View", VIEWS, default=VIEWS[0], key=f"{KEY}.view",
                                label_visibility="collapsed") or VIEWS[0]
    try:
        if view == VIEWS[1]:
            activity_section(actor, now)
        elif view == VIEWS[2]:
            coaching_section(actor, filters, now)
        else:
            productivity_section(actor, filters)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)


def _scope(actor: Actor) -> str:
    if actor.role == "rep":
        return "Your own figures"
    if actor.role == "manager":
        return "Your team's reps"
    return "Every team's reps"


# ---------------------------------------------------------------- productivity and benchmarks


def productivity_view(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("team", "rep", nulls_last=True).select(list(PRODUCTIVITY_COLUMNS))


def benchmark_chart(rows: pl.DataFrame, metric: performance.Metric) -> alt.LayerChart:
    """Each rep's value of one metric as a bar, green when it meets the benchmark, against the benchmark line."""
    data = rows.select("rep", "team", "value", "benchmark", "n",
                       pl.when(pl.col("meets")).then(pl.lit("meets the benchmark"))
                       .otherwise(pl.lit("short of it")).alias("against"))
    order = data.sort("value", descending=metric.higher_is_better, nulls_last=True)["rep"].to_list()
    fmt = FMT[metric.key]
    bars = alt.Chart(data).mark_bar(cornerRadiusEnd=3).encode(
        y=alt.Y("rep:N", sort=order, title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("value:Q", title=f"{metric.label.lower()} ({metric.unit})"),
        color=alt.Color("against:N", title=None, legend=alt.Legend(orient="bottom"), scale=alt.Scale(
            domain=["meets the benchmark", "short of it"], range=["#16a34a", "#f59e0b"])),
        tooltip=[alt.Tooltip("rep:N"), alt.Tooltip("team:N"), alt.Tooltip("value:Q", format=fmt, title=metric.unit),
                 alt.Tooltip("benchmark:Q", format=fmt), alt.Tooltip("n:Q", title="based on")])
    level = pl.DataFrame({"benchmark": [float(data["benchmark"][0])],
                          "label": [f"benchmark {data['benchmark'][0]:g}"]})
    rule = alt.Chart(level).mark_rule(strokeDash=[6, 4], color="#111827").encode(x="benchmark:Q")
    text = alt.Chart(level).mark_text(align="left", dx=4, dy=-6, color="#111827").encode(
        x="benchmark:Q", y=alt.value(0), text="label:N")
    # Streamlit fits the axis and the legend inside the height: leave room for them beyond the bars
    return (bars + rule + text).properties(height=140 + 30 * data.height)


def productivity_section(actor: Actor, filters: Filters) -> None:
    st.caption(f"{_scope(actor)}, {filters.start:%d %b %Y} – {filters.end:%d %b %Y} (the sidebar's filters apply). "
               "Rates are per working day (the rep's weekdays in the period from their start date), meetings per "
               "working week; response time is the median first response to the leads they were given.")
    frame = cached(performance.productivity, actor, filters)
    if frame.is_empty():
        ui.empty("No rep in your scope matches the filters.")
        return
    ui.table(productivity_view(frame), "rep_productivity", key=f"{KEY}.productivity",
             column_config=PRODUCTIVITY_COLUMNS)
    st.subheader("Against the benchmarks")
    targets = cached(performance.benchmarks, actor)
    compared = cached(performance.benchmarking, actor, filters)
    metric = st.segmented_control("Metric", list(METRIC_LABELS), default=performance.METRICS[0].key,
                                  format_func=METRIC_LABELS.get, key=f"{KEY}.metric") or performance.METRICS[0].key
    spec = performance.METRIC_BY_KEY[metric]
    rows = compared.filter(pl.col("metric") == metric)
    reps = rows.filter((pl.col("level") == "rep") & pl.col("value").is_not_null())
    if reps.is_empty():
        st.info(f"No rep in your scope has a figure for {spec.label.lower()} in the period.",
                icon=":material/search_off:")
    else:
        ui.chart(benchmark_chart(reps, spec), key=f"{KEY}.bench.chart")
        meets = int(reps["meets"].sum())
        st.caption(f"{meets} of {reps.height} reps meet the benchmark of {rows['benchmark'][0]:g} {spec.unit} "
                   f"({'at least' if spec.higher_is_better else 'at most'}).")
    ui.table(benchmark_view(rows), f"benchmarking_{metric}", key=f"{KEY}.bench.table", column_config={
        "value": st.column_config.NumberColumn(spec.unit, format="%.1f"),
        "benchmark": st.column_config.NumberColumn(format="%.1f"),
        "gap": st.column_config.NumberColumn("gap to the benchmark", format="%+.1f",
                                             help="The figure minus the benchmark."),
        "meets": st.column_config.CheckboxColumn("meets it"),
        "n": st.column_config.NumberColumn("based on", help="Working days, or leads responded to for response "
                                           "time.")})
    benchmarks_section(actor, targets)


def benchmark_view(rows: pl.DataFrame) -> pl.DataFrame:
    """Teams first, then their reps: the figure, the benchmark, whether it meets it and by how much."""
    return rows.select(
        pl.when(pl.col("level") == "team").then(pl.format("{} (team)", pl.col("team")))
        .otherwise(pl.col("rep")).alias("who"), "team", "value", "benchmark", "meets", "gap", "n")


def benchmarks_section(actor: Actor, targets: pl.DataFrame) -> None:
    st.markdown("**The benchmarks**")
    shown = targets.select(
        "label", pl.col("value").alias("benchmark"), "unit",
        pl.when(pl.col("higher_is_better")).then(pl.lit("at least")).otherwise(pl.lit("at most")).alias("meets when"),
        pl.when(pl.col("saved")).then(pl.lit("saved")).otherwise(pl.format("default ({})", pl.col("default")))
        .alias("source"))
    ui.table(shown, "performance_benchmarks", key=f"{KEY}.benchmarks",
             column_config={"label": st.column_config.TextColumn("metric", width="medium")})
    if actor.role in performance.BENCHMARK_WRITERS:
        _benchmark_form(actor, targets)
    else:
        st.caption("One set of benchmarks applies to every team; managers and admins change them.")


def _benchmark_form(actor: Actor, targets: pl.DataFrame) -> None:
    before = {r["metric"]: r["value"] for r in targets.iter_rows(named=True)}
    with st.form(f"{KEY}.bench.form"):
        st.markdown("**Change the benchmarks**")
        st.caption("One set applies to every team; each change is audited.")
        cols = st.columns(len(performance.METRICS))
        values = {m.key: col.number_input(f"{m.label} ({m.unit})", value=float(before[m.key]), step=0.5,
                                          format="%.1f", key=f"{KEY}.bench.{m.key}")
                  for col, m in zip(cols, performance.METRICS, strict=True)}
        submitted = st.form_submit_button("Save benchmarks", icon=":material/save:", type="primary")
    if not submitted:
        return
    # only what the user changed is saved: an untouched default stays a default
    changes = {k: v for k, v in values.items() if v != before[k]}
    if not changes:
        st.info("Nothing to save: no benchmark differs from the current one.", icon=":material/info:")
        return
    try:
        after = performance.save_benchmarks(current_store(), actor, changes, clock.now())
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    changed = [f"{METRIC_LABELS[k].lower()} {before[k]:g} → {after[k]:g}" for k in changes]
    st.session_state[FLASH] = "Saved the benchmarks: " + "; ".join(changed) + "."
    st.rerun()


# ---------------------------------------------------------------- activity to close


def interval_text() -> pl.Expr:
    """The 95% interval of an odds ratio (columns ci_low, ci_high) as text with two decimals; null without one."""
    return pl.struct("ci_low", "ci_high").map_elements(
        lambda r: None if r["ci_low"] is None else f"{r['ci_low']:.2f}–{r['ci_high']:.2f}", return_dtype=pl.String)


def evidence_view(frame: pl.DataFrame) -> pl.DataFrame:
    interval = interval_text()
    return frame.select(
        "factor", "per", "verdict", pl.col("odds_ratio").alias("odds ratio"), interval.alias("95% interval"),
        pl.col("p_value").map_elements(p_text, return_dtype=pl.String).alias("p"),
        pl.col("mean_won").alias("average, won"), pl.col("mean_lost").alias("average, lost"), "n", "wording")


SHORT = {"calls_30d": "calls", "emails_30d": "emails", "meetings_30d": "meetings", "demos_30d": "demos",
         "response_1h": "first response within an hour"}


def odds_chart(rows: pl.DataFrame) -> alt.LayerChart:
    """The odds ratios of winning with their 95% intervals on a log scale fitted to them (the estimates per
    activity sit close to 1, which a fixed 0.1-10 axis would squeeze into a few pixels), against the line at 1."""
    data = rows.with_columns(
        label=pl.concat_str(pl.col("column").replace_strict(SHORT, default=pl.col("factor")), pl.lit(" ("),
                            pl.col("per"), pl.lit(")")),
        clear=(pl.col("ci_low") > 1) | (pl.col("ci_high") < 1))
    low = min(float(data["ci_low"].min()), 1.0) / 1.08
    high = max(float(data["ci_high"].max()), 1.0) * 1.08
    scale = alt.Scale(type="log", domain=[low, high], nice=False)
    y = alt.Y("label:N", sort=data["label"].to_list(), title=None, axis=alt.Axis(labelLimit=360))
    color = alt.condition("datum.clear", alt.value(charts.ACCENT), alt.value("#94a3b8"))
    base = alt.Chart(data.select("label", "odds_ratio", "ci_low", "ci_high", "clear", "verdict")).encode(
        y=y, tooltip=[alt.Tooltip("label:N", title="factor"), alt.Tooltip("odds_ratio:Q", format=".2f"),
                      alt.Tooltip("ci_low:Q", format=".2f", title="95% low"),
                      alt.Tooltip("ci_high:Q", format=".2f", title="95% high"), alt.Tooltip("verdict:N")])
    rules = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", scale=scale, title="odds ratio of winning (log scale)"), x2="ci_high:Q", color=color)
    dots = base.mark_point(filled=True, size=70).encode(x=alt.X("odds_ratio:Q", scale=scale), color=color)
    one = alt.Chart(pl.DataFrame({"x": [1.0]})).mark_rule(strokeDash=[4, 4], color="#64748b").encode(
        x=alt.X("x:Q", scale=scale))
    return (rules + dots + one).properties(height=110 + 30 * data.height)


EVIDENCE_COLUMNS = {
    "odds ratio": st.column_config.NumberColumn(format="%.2f"),
    "average, won": st.column_config.NumberColumn(format="%.2f", help="Per won deal, in the 30 days before the "
                                                  "close (a share for the first response within an hour)."),
    "average, lost": st.column_config.NumberColumn(format="%.2f"),
    "n": st.column_config.NumberColumn("closed deals"),
    "wording": st.column_config.TextColumn("what it says", width="large"),
}
BRIEF = {**EVIDENCE_COLUMNS, "wording": None}  # where the sentences follow the table in full


def activity_section(actor: Actor, now: datetime) -> None:
    out = cached(performance.activity_to_close, actor, now)
    lost = out["n"] - out["won"]
    whose = {"rep": "Your own", "manager": "Your team's"}.get(actor.role, "Every team's")
    st.caption(f"{whose} {out['n']:,} closed deals ({out['won']:,} won, {lost:,} lost), every one on record "
               "whatever the sidebar's period and filters (a regression needs all it can get). Activities are "
               "counted in the 30 days before the close.")
    frame = out["frame"]
    if out["why"]:
        st.warning(f"{out['why']} No odds ratio is shown until there are.", icon=":material/data_alert:")
    else:
        estimated = frame.filter(pl.col("odds_ratio").is_not_null())
        if estimated.is_empty():
            st.warning("No factor could be estimated from these deals.", icon=":material/data_alert:")
        else:
            ui.chart(odds_chart(estimated), key=f"{KEY}.a2c.chart")
            st.caption("Each dot is the odds ratio of winning, each bar its 95% interval. Right of the dashed line "
                       "(1): deals with more of it were won more often than deals of similar lead quality with less; "
                       "left: less often. Grey: the interval includes 1, no clear association.")
    st.info(out["note"], icon=":material/info:")
    ui.table(evidence_view(frame), "activity_to_close", key=f"{KEY}.a2c.table",
             column_config=EVIDENCE_COLUMNS if out["why"] else BRIEF)
    if not out["why"]:  # with too little data every row says the same: the warning above says it once
        st.markdown("\n".join(f"- {md_escape(w)}" for w in frame["wording"].to_list()))


# ---------------------------------------------------------------- coaching


def coaching_section(actor: Actor, filters: Filters, now: datetime) -> None:
    st.caption(f"{_scope(actor)}, {filters.start:%d %b %Y} – {filters.end:%d %b %Y}. A recommendation names a "
               f"metric where the rep is short of the top quarter of every team's reps (at least "
               f"{performance.MIN_REPS} compared) and whose activity is associated with winning closed deals of "
               "similar lead quality; at most "
               f"{performance.MAX_RECOMMENDATIONS} per rep, the largest relative gap first.")
    with st.spinner("Comparing each rep with the top quarter…"):
        out = cached(performance.coaching, actor, filters, now)
    reps, recs = out["reps"], out["recommendations"]
    if reps.is_empty():
        ui.empty("No selling rep in your scope matches the filters.")
        return
    names = dict(zip(reps["rep_id"].to_list(), reps["rep"].to_list(), strict=True))
    if len(names) == 1:
        rep_id = next(iter(names))
    else:
        counts = dict(zip(reps["rep_id"].to_list(), reps["recommendations"].to_list(), strict=True))
        first = next((i for i, n in enumerate(counts.values()) if n), 0)  # open on a rep with something to read
        rep_id = st.selectbox("Rep", list(names), index=first, key=f"{KEY}.coach.rep",
                              format_func=lambda i: f"{names[i]} ({counts[i]} recommendation"
                                                    f"{'' if counts[i] == 1 else 's'})")
    _one_rep(reps.filter(pl.col("rep_id") == rep_id).row(0, named=True), recs.filter(pl.col("rep_id") == rep_id))
    if len(names) > 1:
        st.markdown("**Every rep**")
        ui.table(coaching_view(reps, recs), "coaching", key=f"{KEY}.coach.table", row_height=84, column_config={
            "recommendations": st.column_config.NumberColumn(format="%d", width=120),
            "what, or why none": st.column_config.TextColumn(width=480)})
    if not recs.is_empty():
        with st.expander("Every recommendation with its figures"):
            ui.table(recommendations_view(recs), "coaching_recommendations", key=f"{KEY}.coach.recs",
                     column_config=RECOMMENDATION_COLUMNS)
    with st.expander("The evidence: activity to close over every team's closed deals"):
        st.caption(out["note"])
        ui.table(evidence_view(out["evidence"]), "coaching_evidence", key=f"{KEY}.coach.evidence",
                 column_config=EVIDENCE_COLUMNS)


def coaching_view(reps: pl.DataFrame, recs: pl.DataFrame) -> pl.DataFrame:
    """A row per rep: how many recommendations and on what, or why none."""
    on = recs.group_by("rep_id", maintain_order=True).agg(pl.col("label").str.join("; ").alias("on"))
    return reps.join(on, on="rep_id", how="left").select(
        "rep", "team", "recommendations",
        pl.when(pl.col("recommendations") > 0).then(pl.format("On: {}", pl.col("on")))
        .otherwise(pl.format("None: {}", pl.col("why_none").fill_null("the evidence is too weak")))
        .alias("what, or why none"))


RECOMMENDATION_COLUMNS = {
    "value": st.column_config.NumberColumn("their value", format="%.1f"),
    "top_quartile": st.column_config.NumberColumn("top quarter", format="%.1f"),
    "gap": st.column_config.NumberColumn(format="%.1f", help="How far they are from the top quarter."),
    "n": st.column_config.NumberColumn("based on", help="The rep's working days, or leads responded to."),
    "reps_compared": st.column_config.NumberColumn("reps compared"),
    "odds_ratio": st.column_config.NumberColumn("odds ratio of winning", format="%.2f"),
    "deals": st.column_config.NumberColumn("closed deals"),
}


def recommendations_view(recs: pl.DataFrame) -> pl.DataFrame:
    """The recommendations as figures: the metric, the rep's value against the top quarter, n and the association."""
    return recs.select("rep", "team", pl.col("label").alias("metric"), "value", "top_quartile", "gap", "n",
                       "reps_compared", "odds_ratio", interval_text().alias("95% interval"), "deals")


def _one_rep(rep: dict[str, Any], recs: pl.DataFrame) -> None:
    st.markdown(f"**{md_escape(rep['rep'])}** · {md_escape(rep['team'] or 'no team')}")
    if recs.is_empty():
        st.info(f"No recommendation for {rep['rep']}: {rep['why_none'] or 'the evidence is too weak'}.",
                icon=":material/sentiment_satisfied:")
        return
    for r in recs.iter_rows(named=True):
        spec = performance.METRIC_BY_KEY[r["metric"]]
        with st.container(border=True):
            left, right = st.columns([1, 3])
            delta = r["value"] - r["top_quartile"]
            left.metric(r["label"], f"{r['value']:.1f} {spec.unit}",
                        delta=f"{delta:+.1f} vs top quarter {r['top_quartile']:.1f}",
                        delta_color="normal" if spec.higher_is_better else "inverse")
            right.markdown(md_escape(r["recommendation"]))
