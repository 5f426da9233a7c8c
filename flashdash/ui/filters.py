"""The sidebar filter shared by the dashboards: date range with presets, team, region, rep, vertical, channel.

Values live in session state under `flt.*` so that they follow the user from page to page (a
widget's own state is dropped when another page is shown); `?rep=`, `?team=`, `?start=`, `?end=`
in the URL set them, and a value the user may not see is refused with a message. The period starts as
the last 90 days, or as all the data (with a note saying so) when nothing was submitted in them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from flashdash import clock, org
from flashdash.access import Actor
from flashdash.filters import (
    ALL_DATA,
    PRESETS,
    FilterError,
    Filters,
    data_span,
    default_preset,
    fallback_note,
    parse_date,
    preset_range,
)
from flashdash.ui.store import cached

_KEYS = ("preset", "dates", "teams", "regions", "reps", "verticals", "channels")


def _restore(name: str, default: Any) -> str:
    """Put the remembered value back into the widget's state before the widget is drawn."""
    key = f"w.flt.{name}"
    st.session_state[key] = st.session_state.get(f"flt.{name}", default)
    return key


def _remember(name: str) -> None:
    st.session_state[f"flt.{name}"] = st.session_state[f"w.flt.{name}"]


def _ids_from_query(param: str, known: pl.DataFrame, label: str, notes: list[str]) -> list[int] | None:
    raw = st.query_params.get(param)
    if raw is None:
        return None
    try:
        wanted = [int(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        notes.append(f"The link's {param}={raw!r} is not a list of {label} ids; the {label} filter ignores it.")
        return None
    allowed = set(known["id"].to_list())
    unknown = [v for v in wanted if v not in allowed]
    if unknown:
        notes.append(f"{label.capitalize()} {', '.join(map(str, unknown))} in the link is not one you can see; "
                     f"the {label} filter ignores it.")
    return [v for v in wanted if v in allowed]


def _apply_query_params(opts: dict[str, pl.DataFrame]) -> list[str]:
    """Set the filters from the URL; returns notes on values it had to ignore."""
    notes: list[str] = []
    for param, name, label in (("rep", "reps", "rep"), ("team", "teams", "team"), ("region", "regions", "region")):
        ids = _ids_from_query(param, opts[name], label, notes)
        if ids is not None:
            st.session_state[f"flt.{name}"] = ids
    start, end = st.query_params.get("start"), st.query_params.get("end")
    if start or end:
        today = clock.now().date()
        d0 = parse_date(start, "start date in the link") if start else today
        d1 = parse_date(end, "end date in the link") if end else today
        Filters(start=d0, end=d1)  # refuses an inverted range with a clear message
        st.session_state["flt.preset"] = "Custom"
        st.session_state["flt.dates"] = (d0, d1)
    return notes


def sidebar_filters(actor: Actor) -> Filters:
    """Draw the shared filters in the sidebar and return the current selection."""
    opts = cached(org.filter_options, actor)
    today = clock.now().date()
    span = cached(data_span)
    default = default_preset(today, span)
    # Apply a link's filters once (the user may change them afterwards), but keep its notes on screen:
    # reruns happen at any moment and a message shown once would vanish. A link that cannot be used
    # raises every run until it is fixed.
    query = st.query_params.to_dict()
    if query != st.session_state.get("flt.query_seen"):
        st.session_state["flt.query_notes"] = _apply_query_params(opts)
        st.session_state["flt.query_seen"] = query
    for note in st.session_state.get("flt.query_notes", []):
        st.warning(note, icon=":material/link_off:")
    names = {
        "teams": dict(opts["teams"].select("id", "name").iter_rows()),
        "regions": dict(opts["regions"].select("id", "name").iter_rows()),
        "reps": dict(opts["reps"].select("id", "name").iter_rows()),
    }
    with st.sidebar:
        st.subheader("Filters")
        preset = st.selectbox("Date range", PRESETS, key=_restore("preset", default),
                              on_change=_remember, args=("preset",))
        if preset == "Custom":
            # the picker's bounds reach the store's data, however old (its own default floor is ten years back)
            floor = min(today.replace(year=today.year - 10, day=min(today.day, 28)), span.first if span else today)
            dates = st.date_input("From – to", key=_restore("dates", preset_range(default, today, span)),
                                  on_change=_remember, args=("dates",), min_value=floor,
                                  max_value=max(today, span.last if span else today), format="YYYY-MM-DD")
            if not isinstance(dates, tuple | list) or len(dates) != 2:
                st.info("Pick an end date to complete the range.")
                start = end = dates[0] if isinstance(dates, tuple | list) and dates else today
            else:
                start, end = dates
        else:
            start, end = preset_range(preset, today, span)
            st.caption(f"{start:%b %d, %Y} – {end:%b %d, %Y}")
            note = fallback_note(today, span) if preset == ALL_DATA else None
            if note:
                st.info(note, icon=":material/history:")
        chosen: dict[str, list[Any]] = {}
        for name, label in (("teams", "Team"), ("regions", "Region"), ("reps", "Rep")):
            # one team or rep is nothing to choose from (one region still is); none at all: not in this data
            if not names[name] or (len(names[name]) <= 1 and name != "regions"):
                chosen[name] = []
                continue
            valid = [v for v in st.session_state.get(f"flt.{name}", []) if v in names[name]]
            st.session_state[f"flt.{name}"] = valid
            chosen[name] = st.multiselect(label, list(names[name]), format_func=names[name].get,
                                          key=_restore(name, []), on_change=_remember, args=(name,),
                                          placeholder=f"All {label.lower()}s")
        for name, label in (("verticals", "Vertical"), ("channels", "Channel")):
            values = opts[name]["value"].to_list()
            if not values:  # e.g. imported leads without a vertical
                chosen[name] = []
                continue
            valid = [v for v in st.session_state.get(f"flt.{name}", []) if v in values]
            st.session_state[f"flt.{name}"] = valid
            chosen[name] = st.multiselect(label, values, key=_restore(name, []), on_change=_remember,
                                          args=(name,), placeholder=f"All {label.lower()}s")
        if st.button("Reset filters", key="w.flt.reset", icon=":material/restart_alt:"):
            for k in _KEYS:
                st.session_state.pop(f"flt.{k}", None)
            st.rerun()
    return Filters(start=_as_date(start), end=_as_date(end), teams=tuple(chosen["teams"]),
                   regions=tuple(chosen["regions"]), reps=tuple(chosen["reps"]),
                   verticals=tuple(chosen["verticals"]), channels=tuple(chosen["channels"]))


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    raise FilterError(f"{value!r} is not a date.")
