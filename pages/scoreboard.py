"""Rep scoreboard: reps ranked on the period's work and results; drill from team to rep to lead."""


import streamlit as st

from flashdash import charts, scoreboard
from flashdash.executive import format_value
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

CHART_FMT = {"count": ",.0f", "money": "$,.0f", "pct": ".0%", "hours": ",.1f"}
COLUMNS = {
    "rank": st.column_config.NumberColumn("Rank", width="small"),
    "rep": st.column_config.TextColumn("Rep"),
    "team": st.column_config.TextColumn("Team"),
    "title": st.column_config.TextColumn("Title"),
    "active": st.column_config.CheckboxColumn("Active"),
    "reps": st.column_config.NumberColumn("Reps"),
    "leads": st.column_config.NumberColumn("Leads", help=scoreboard.METRIC_BY_KEY["leads"].help),
    "activities": st.column_config.NumberColumn("Activities", help=scoreboard.METRIC_BY_KEY["activities"].help),
    "median_response_hours": st.column_config.NumberColumn(
        "Median response (h)", format="%.1f", help=scoreboard.METRIC_BY_KEY["median_response_hours"].help),
    "conversion": st.column_config.NumberColumn("Conversion", format="percent",
                                                help=scoreboard.METRIC_BY_KEY["conversion"].help),
    "won_revenue": st.column_config.NumberColumn("Won revenue", format="dollar",
                                                 help=scoreboard.METRIC_BY_KEY["won_revenue"].help),
    "quota_target": st.column_config.NumberColumn("Quota for period", format="dollar"),
    "attainment": st.column_config.NumberColumn("Attainment", format="percent",
                                                help=scoreboard.METRIC_BY_KEY["attainment"].help),
    "won_leads": st.column_config.NumberColumn("Leads won"),
    "won_deals": st.column_config.NumberColumn("Deals won"),
    "rep_id": None,
    "team_id": None,
}
LEAD_COLUMNS = {
    "id": st.column_config.NumberColumn("Lead", format="%d"),
    "merchant_name": st.column_config.TextColumn("Merchant"),
    "status": st.column_config.TextColumn("Status"),
    "submitted_at": st.column_config.DatetimeColumn("Submitted", format="YYYY-MM-DD HH:mm"),
    "first_response_at": st.column_config.DatetimeColumn("First response", format="YYYY-MM-DD HH:mm"),
    "response_hours": st.column_config.NumberColumn("Response (h)", format="%.1f"),
    "owner": st.column_config.TextColumn("Owner"),
    "contact_name": st.column_config.TextColumn("Contact"),
    "email": st.column_config.TextColumn("Email"),
    "phone": st.column_config.TextColumn("Phone"),
    "interest_level": st.column_config.TextColumn("Interest"),
    "channel": st.column_config.TextColumn("Channel"),
    "vertical": st.column_config.TextColumn("Vertical"),
}

DEAL_COLUMNS = {
    "id": st.column_config.NumberColumn("Deal", format="%d"),
    "name": st.column_config.TextColumn("Deal name"),
    "merchant_name": st.column_config.TextColumn("Merchant"),
    "amount": st.column_config.NumberColumn("Amount", format="dollar"),
    "created_at": st.column_config.DatetimeColumn("Opened", format="YYYY-MM-DD"),
    "closed_at": st.column_config.DatetimeColumn("Won", format="YYYY-MM-DD"),
    "channel": st.column_config.TextColumn("Channel"),
    "vertical": st.column_config.TextColumn("Vertical"),
    "lead_id": st.column_config.NumberColumn("Lead", format="%d"),
}


def picked_row(key: str) -> int | None:
    """The one row selected in a single-row table (None if none)."""
    rows = ui.selected_rows(key)
    return rows[0] if rows else None


actor = guard("scoreboard")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Rep scoreboard", filters, "leads submitted, activities logged and revenue won in the period")
    data = cached(scoreboard.board, actor, filters)
    if not scoreboard.has_numbers(data["reps"]):
        ui.empty("No leads, activities or wins in this period.")
        st.stop()

    view = "all"
    choices = scoreboard.views(data["reps"])
    if len(choices) > 1 and data["reps"].height > 1:
        view = st.segmented_control("Show", choices, format_func=scoreboard.VIEWS.get, default="all",
                                    key="sb.view") or "all"
    board = scoreboard.view(data, view)
    reps, teams, metrics = board["reps"], board["teams"], board["metrics"]
    # widget keys per view, so that a selection made in one view never points at a row of another
    vk = "" if view == "all" else f"{view}."
    if board["help"]:
        st.caption(board["help"])
    for note in board["notes"]:
        st.info(note, icon=":material/info:")
    if reps.is_empty():
        st.info(f"No {scoreboard.VIEWS[view].lower()} have figures in this period. Widen the date range or pick "
                "another view.", icon=":material/search_off:")
        st.stop()

    quota_note = (f" Quota for the period = monthly quota × {data['months']:.2f} months."
                  if "quota" in data["recorded"] else "")
    if reps.height > 1:
        metric = st.columns([1, 3])[0].selectbox("Rank by", metrics, key=f"sb.metric{'.' + view if vk else ''}",
                                                 format_func=lambda k: scoreboard.METRIC_BY_KEY[k].label)
        st.caption(f"{scoreboard.METRIC_BY_KEY[metric].help}{quota_note}")
    else:  # one row (a rep's own book): nothing to rank
        metric = metrics[0]
        if quota_note:
            st.caption(quota_note.strip())
    spec = scoreboard.METRIC_BY_KEY[metric]

    team_id, team_name = None, None
    if actor.role != "rep":
        st.subheader("Teams")
        # In name order, so a selected row stays the same team whatever the ranking metric.
        team_rows = scoreboard.ranked(teams, metric).sort("team")
        ui.table(team_rows, "scoreboard_teams", key=f"sb.teams{vk and '.' + view}", column_config=COLUMNS,
                 on_select="rerun", selection_mode="single-row")
        row = picked_row(f"sb.teams{vk and '.' + view}")
        if row is not None and row < team_rows.height:
            team_id, team_name = team_rows["team_id"][row], team_rows["team"][row]
        else:
            st.caption("Select a team's row to see only its reps.")

    shown = scoreboard.ranked(scoreboard.for_team(reps, team_id), metric)
    top = scoreboard.chart_rows(shown, metric)
    if reps.height == 1:  # a rep's own book: their figures, not a one-bar ranking
        top = top.clear()
        own = shown.row(0, named=True)
        st.subheader(own["rep"])
        cols = st.columns(3)
        for i, key in enumerate(metrics):
            m = scoreboard.METRIC_BY_KEY[key]
            cols[i % 3].metric(m.label, format_value(own[m.key], m.fmt), help=m.help, border=True)
    else:
        st.subheader(f"Reps of {team_name}" if team_name else "Reps")
    picked = ui.chart(
        charts.bar_select(top, "rep", metric, param="rep", value_title=spec.label, fmt=CHART_FMT[spec.fmt],
                          sort="-x" if spec.higher_is_better else "x",
                          title=f"{spec.label}, best first (click a rep to focus)"),
        key="sb.chart", select="rep", field="rep") if not top.is_empty() else []
    picked = [p for p in picked if p in set(shown["rep"])]  # a rep clicked before the team changed is gone
    if 0 < top.height < shown.height:
        st.caption(f"The chart shows the top {top.height} of {shown.height} reps; the table has them all.")
    if picked:
        shown = shown.filter(shown["rep"].is_in(picked))
        st.info(f"Showing only {', '.join(picked)}. Click the bar again to clear.", icon=":material/filter_alt:")
    if not shown["active"].all():
        st.caption("Reps marked (inactive) have left; they appear while their leads, activities or wins fall "
                   "in the period.")
    reps_key = f"sb.reps.{vk}focus" if picked else f"sb.reps.{vk}{team_id or 'all'}.{metric}"
    # the title column only says something when a manager is among the rows
    columns = COLUMNS if (shown["title"] != "rep").any() else {**COLUMNS, "title": None}
    ui.table(shown, "scoreboard_reps", key=reps_key, column_config=columns, on_select="rerun",
             selection_mode="single-row")

    row = picked_row(reps_key)
    focus = shown.row(row, named=True) if row is not None and row < shown.height else \
        shown.row(0, named=True) if shown.height == 1 else None
    what = "won deals" if view == "closer" else "leads"
    if focus is None:
        st.caption(f"Select a rep's row (or click their bar) to see their {what}.")
    elif view == "closer":
        st.subheader(f"Won deals of {focus['rep']}")
        deals = cached(scoreboard.rep_deals, actor, filters, focus["rep_id"])
        if deals["total"] > deals["deals"].height:
            st.caption(f"The latest {deals['deals'].height:,} of {deals['total']:,} deals won in the period.")
        ui.table(deals["deals"], f"deals_{focus['rep_id']}", key="sb.deals", column_config=DEAL_COLUMNS)
    else:
        st.subheader(f"Leads of {focus['rep']}")
        leads = cached(scoreboard.rep_leads, actor, filters, focus["rep_id"])
        if leads["total"] > leads["leads"].height:
            st.caption(f"The newest {leads['leads'].height:,} of {leads['total']:,} leads submitted in the period.")
        ui.table(leads["leads"], f"leads_{focus['rep_id']}", key="sb.leads", column_config=LEAD_COLUMNS)
