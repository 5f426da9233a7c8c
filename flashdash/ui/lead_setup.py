"""The Leads page's settings tabs: qualification criteria per team, assignment policy per team with the
territory map, each rep's routing data and the fairness view, and Phase 1's impact against a baseline."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import polars as pl
import streamlit as st

from flashdash import assignment, charts, clock, impact, org, qualification
from flashdash.access import AccessDenied, Actor
from flashdash.filters import FilterError, Filters
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

EDITORS = ("manager", "admin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _team_choice(actor: Actor, key: str, with_default: bool) -> int | None:
    """The team whose settings are shown: a manager's own teams; an admin's pick of every team or the default."""
    teams = cached(org.filter_options, actor)["teams"]
    options: list[int | None] = ([None] if with_default and actor.role == "admin" else []) + teams["id"].to_list()
    if not options:
        return None
    names = dict(zip(teams["id"].to_list(), teams["name"].to_list(), strict=True))
    return st.selectbox("Team", options, key=key,
                        format_func=lambda t: "Default (teams without their own)" if t is None else names[t])


# ---------------------------------------------------------------- qualification


def _rows(conditions: list[dict[str, Any]]) -> pl.DataFrame:
    """Conditions as editable rows; an "any of" group is one row whose value is its list, as JSON."""
    rows = [{"field": "any", "op": "", "value": json.dumps(c["any"])} if "any" in c else
            {"field": c["field"], "op": c["op"],
             "value": "" if c.get("value") is None else ", ".join(map(str, c["value"]))
             if isinstance(c["value"], list) else str(c["value"])} for c in conditions]
    return pl.DataFrame(rows, schema={"field": pl.String, "op": pl.String, "value": pl.String})


def _value(text: str | None, op: str) -> Any:
    text = (text or "").strip()
    if not text or op in qualification.NO_VALUE_OPS:
        return None
    items = [t.strip() for t in text.split(",")] if op in qualification.LIST_OPS else [text]
    parsed = []
    for item in items:
        try:
            parsed.append(float(item) if item.replace(".", "", 1).lstrip("-").isdigit() else item)
        except ValueError:
            parsed.append(item)
    return parsed if op in qualification.LIST_OPS else parsed[0]


def _conditions(edited: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in edited.iter_rows(named=True):
        if not row["field"]:
            continue
        if row["field"] == "any":
            try:
                out.append({"any": json.loads(row["value"] or "[]")})
            except json.JSONDecodeError as exc:
                raise qualification.QualificationError(f"The 'any' row's value is not a JSON list ({exc.msg}).") \
                    from None
        else:
            out.append({"field": row["field"], "op": row["op"] or "", "value": _value(row["value"], row["op"] or "")})
    return out


def qualification_tab(actor: Actor) -> None:
    team = _team_choice(actor, "leads.q.team", with_default=True)
    crit = cached(qualification.criteria, actor, team)
    fields = qualification.condition_fields()
    may_edit = actor.role in EDITORS
    for row in crit.iter_rows(named=True):
        with st.container(border=True):
            source = {"team": "this team's own", "default": "the default", "built-in": "built in"}[row["source"]]
            st.markdown(f"**{row['label']}** · {row['description']} · "
                        f"{'advances by itself' if row['auto'] else 'by hand only'} · {source}")
            if not may_edit:
                continue
            edited = st.data_editor(
                _rows(json.loads(row["conditions"])), num_rows="dynamic", hide_index=True, width="stretch",
                key=f"leads.q.{team}.{row['stage']}.rows",
                column_config={
                    "field": st.column_config.SelectboxColumn("field", options=["any", *fields["field"]],
                                                              required=True),
                    "op": st.column_config.SelectboxColumn(
                        "operator", options=sorted({op for ops in fields["ops"] for op in ops})),
                    "value": st.column_config.TextColumn("value", help="Lists comma-separated; an 'any' row holds "
                                                                       "a JSON list of conditions, one of which must hold"),
                })
            c1, c2, c3 = st.columns([1, 1, 2])
            auto = c1.toggle("Advance by itself", value=row["auto"], key=f"leads.q.{team}.{row['stage']}.auto")
            if c2.button("Save", key=f"leads.q.{team}.{row['stage']}.save", icon=":material/save:"):
                try:
                    qualification.save_criteria(current_store(), actor, team, row["stage"], _conditions(edited),
                                                auto, clock.now())
                except (ValueError, AccessDenied, StoreError) as exc:
                    show_problem(exc)
                else:
                    st.success(f"Saved the {row['label']} criteria.", icon=":material/done:")
            if row["source"] == "team" and c3.button("Use the default again", key=f"leads.q.{team}.{row['stage']}.reset"):
                try:
                    qualification.reset_criteria(current_store(), actor, team, row["stage"], clock.now())
                except (ValueError, AccessDenied, StoreError) as exc:
                    show_problem(exc)
                else:
                    st.rerun()
    with st.expander("Fields and operators a condition can use"):
        ui.table(fields.with_columns(pl.col("ops").list.join(", "), pl.col("values").list.join(", ")),
                 "condition_fields", key="leads.q.fields")
    st.subheader("Time in each stage")
    stays = cached(qualification.time_in_stage, actor, None, clock.now().replace(second=0))
    if stays.is_empty():
        ui.empty("No stage history in your book yet.")
    else:
        ui.chart(charts.durations(stays, "stage", "median_days", title="Median days in stage (leads in your book)"),
                 key="leads.q.stays")
        ui.table(stays, "time_in_stage", key="leads.q.stays_table")


# ---------------------------------------------------------------- assignment


def assignment_tab(actor: Actor, page: Filters) -> None:
    team = _team_choice(actor, "leads.a.team", with_default=True)
    try:
        current = cached(assignment.policy, actor, team)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    source = {"team": "This team's own policy", "default": "The default policy (this team has none of its own)",
              "built-in": "The built-in default (no policy is stored yet)"}[current["source"]]
    st.caption(source + (f", last changed by {current['updated_by']} on {current['updated_at']:%d %b %Y}"
                         if current["updated_by"] else "") + ".")
    if actor.role in EDITORS:
        _policy_form(actor, team, current)
    else:
        st.markdown("Strategies, in order: " + " → ".join(current["strategies"]))
    st.subheader("Territories")
    cities = cached(assignment.territory_map, actor)
    ui.chart(charts.territory_map(cities, size="open_leads", color="territory",
                                  title="Open leads by city, coloured by territory"), key="leads.a.map")
    st.subheader("Fairness")
    fair = cached(assignment.fairness, actor, page.start, page.end, team)
    if fair.is_empty() or not fair["assigned"].sum():
        ui.empty("No leads were assigned in the period.")
    else:
        ui.chart(charts.shares_vs_weights(fair, label="rep", expected="expected_share", actual="actual_share",
                                          title="Share of leads (bar) against the share their weight promises (tick)"),
                 key="leads.a.fairness")
        ui.table(fair, "fairness", key="leads.a.fair_table", column_config={
            "expected_share": st.column_config.NumberColumn("expected", format="percent"),
            "actual_share": st.column_config.NumberColumn("actual", format="percent"),
            "share_gap": st.column_config.NumberColumn("gap", format="percent"),
            "high_band_share": st.column_config.NumberColumn("high band", format="percent"),
            "mean_score": st.column_config.NumberColumn("mean score", format="%.0f")})
    if actor.role in EDITORS:
        _routing_editor(actor)


def _policy_form(actor: Actor, team: int | None, current: dict[str, Any]) -> None:
    s = current["settings"]
    with st.form(f"leads.a.policy.{team}"):
        strategies = st.multiselect("Strategies, in the order they narrow the reps", assignment.STRATEGIES,
                                    default=current["strategies"], key=f"leads.a.{team}.strategies",
                                    help="Weighted round-robin, if used, comes last.")
        c1, c2, c3, c4 = st.columns(4)
        metric = c1.selectbox("Weights from", assignment.WEIGHT_METRICS, key=f"leads.a.{team}.metric",
                              index=assignment.WEIGHT_METRICS.index(s["weight_metric"]))
        window = c2.number_input("Over the last (days)", 7, 730, int(s["weight_window_days"]),
                                 key=f"leads.a.{team}.window")
        floor = c3.number_input("Weight floor", 0.1, 1.0, float(s["weight_floor"]), 0.1, key=f"leads.a.{team}.floor")
        ceiling = c4.number_input("Weight ceiling", 1.0, 10.0, float(s["weight_ceiling"]), 0.1,
                                  key=f"leads.a.{team}.ceiling")
        caps = st.checkbox("Respect each rep's cap on open leads", value=bool(s["respect_caps"]),
                           key=f"leads.a.{team}.caps")
        language = st.checkbox("Only reps who speak the merchant's language", value=bool(s["language_required"]),
                               key=f"leads.a.{team}.language")
        c5, c6 = st.columns(2)
        save = c5.form_submit_button("Save policy", icon=":material/save:")
        reset = c6.form_submit_button("Use the default again", disabled=not current["own"])
    if save or reset:
        try:
            if save:
                assignment.save_policy(current_store(), actor, team, strategies, {
                    **s, "weight_metric": metric, "weight_window_days": int(window), "weight_floor": floor,
                    "weight_ceiling": ceiling, "respect_caps": caps, "language_required": language}, clock.now())
            else:
                assignment.clear_policy(current_store(), actor, team, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.success("Saved: new leads are routed by it from now on." if save else "The default applies again.",
                       icon=":material/done:")


def _routing_editor(actor: Actor) -> None:
    st.subheader("Each rep's routing data")
    table = cached(assignment.routing_table, actor)
    if table.is_empty():
        return
    ui.table(table.drop("region_id"), "rep_routing", key="leads.a.routing")
    names = dict(zip(table["rep_id"].to_list(), table["rep"].to_list(), strict=True))
    rep_id = st.selectbox("Edit", table["rep_id"].to_list(), format_func=names.get, key="leads.a.rep")
    row = table.filter(pl.col("rep_id") == rep_id).row(0, named=True)
    territories = cached(assignment.territories).filter(pl.col("region_id").eq_missing(row["region_id"]))
    with st.form(f"leads.a.rep_form.{rep_id}"):
        c1, c2 = st.columns(2)
        verticals = c1.text_input("Verticals (comma-separated)", row["verticals"] or "", key=f"leads.a.{rep_id}.v")
        languages = c2.text_input("Languages", row["languages"] or "", key=f"leads.a.{rep_id}.l")
        cap = c1.number_input("Cap on open leads (0: none)", 0, 1000, int(row["max_open_leads"] or 0),
                              key=f"leads.a.{rep_id}.cap")
        days = c2.multiselect("Working days", WEEKDAYS, default=row["working_days"].split(","),
                              key=f"leads.a.{rep_id}.days")
        covered = st.multiselect("Territories", territories["territory_id"].to_list(),
                                 default=list(row["territory_ids"] or []), key=f"leads.a.{rep_id}.t",
                                 format_func=dict(zip(territories["territory_id"], territories["territory"],
                                                      strict=True)).get)
        if st.form_submit_button("Save routing data", icon=":material/save:"):
            try:
                assignment.set_rep_routing(current_store(), actor, rep_id, verticals, languages, int(cap) or None,
                                           days, covered, clock.now())
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.success(f"Saved {names[rep_id]}'s routing data.", icon=":material/done:")


# ---------------------------------------------------------------- impact


def _fmt(value: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    return {"hours": f"{value:.1f} h", "pct": f"{value:.1%}", "rate": f"{value:.1f}"}[fmt]


def impact_tab(actor: Actor, page: Filters) -> None:
    before = page.previous()
    picked = st.date_input("Baseline period", value=(before.start, before.end), key="leads.impact.baseline",
                           help="Before the change you measure (the sidebar's period is the one measured).")
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info("Pick the baseline's first and last day.", icon=":material/date_range:")
        return
    try:
        out = cached(impact.phase1, actor, page, picked, clock.now().date())
    except FilterError as exc:
        st.error(str(exc), icon=":material/event_busy:")
        return
    cutoff, base_cutoff = out["cutoffs"]
    st.caption(f"Period {page.start:%d %b %Y} – {page.end:%d %b %Y} (as of {cutoff - timedelta(days=1):%d %b}) "
               f"against {picked[0]:%d %b %Y} – {picked[1]:%d %b %Y} (as of {base_cutoff - timedelta(days=1):%d %b}): "
               "both cohorts judged at the same age.")
    cols = st.columns(len(impact.TARGETS))
    for col, row in zip(cols, out["targets"].iter_rows(named=True), strict=True):
        change = row["change"]
        target = f"target {row['target']:+.0%}"
        state = "no baseline to compare" if change is None else ("target met" if row["met"] else "not yet")
        col.metric(row["label"], _fmt(row["current"], row["fmt"]),
                   delta=None if change is None else f"{change:+.0%} vs {_fmt(row['baseline'], row['fmt'])}",
                   delta_color="inverse" if row["target"] < 0 else "normal", border=True,
                   help=f"{row['help']} {target}; {state}.")
        col.caption(f"{target} · {state}")
    weekly = out["weekly"].drop_nulls("median_response_hours")
    if not weekly.is_empty():
        ui.chart(charts.trend(weekly, "week", "median_response_hours", color="period", fmt=".1f",
                              y_title="hours", title="Median hours to the first activity, week by week"),
                 key="leads.impact.trend")
