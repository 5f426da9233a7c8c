"""Small page parts used everywhere: chart selections, downloads, empty states, headers."""

from __future__ import annotations

from functools import partial
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import exports
from flashdash.access import Actor
from flashdash.filters import Filters
from flashdash.schedule import Freshness


def chart(spec: alt.TopLevelMixin, key: str, *, select: str | None = None, field: str | None = None) -> list[Any]:
    """Draw an altair chart; with `select`, return the values of `field` the user clicked (else [])."""
    if select is None:
        st.altair_chart(spec, key=key, width="stretch")
        return []
    event = st.altair_chart(spec, key=key, on_select="rerun", selection_mode=select, width="stretch")
    points = (event or {}).get("selection", {}).get(select, []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), select, None) or []
    return [p[field] for p in points if field in p]


def download(frame: pl.DataFrame, name: str, key: str) -> None:
    """Downloads of exactly the table shown, as CSV, Excel or Parquet; each file is built when clicked."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"{key}.downloads"):
        st.caption(f"Download {frame.height:,} rows as", width="content")
        for fmt, label in exports.FORMAT_LABELS.items():
            too_big = fmt == "xlsx" and frame.height > exports.EXCEL_MAX_ROWS
            st.download_button(
                label, partial(exports.frame_bytes, frame, fmt), file_name=f"{name}.{fmt}",
                mime=exports.MIME_TYPES[fmt], key=f"{key}.{fmt}", icon=":material/download:", type="tertiary",
                on_click="ignore", disabled=too_big,
                help=f"An Excel sheet holds {exports.EXCEL_MAX_ROWS:,} rows: use CSV or Parquet." if too_big else None,
            )


def table(frame: pl.DataFrame, name: str, key: str, **kwargs: Any) -> None:
    """A sortable table with its downloads, or an empty state."""
    if frame.is_empty():
        empty("No rows match the filters.")
        return
    st.dataframe(frame, key=f"{key}.table", width="stretch", hide_index=True, **kwargs)
    download(frame, name, key=key)


def empty(message: str = "Nothing matches the current filters.") -> None:
    st.info(f"{message} Widen the date range or clear a filter in the sidebar.", icon=":material/search_off:")


def header(title: str, filters: Filters, caption: str | None = None) -> None:
    st.title(title)
    span = f"{filters.start:%b %d, %Y} – {filters.end:%b %d, %Y}"
    st.caption(f"{span} · {caption}" if caption else span)


def narrowed(filters: Filters, **selected: list[Any]) -> Filters:
    """The filters narrowed by chart clicks (e.g. channels=['referral']); unchanged when nothing is clicked."""
    changes = {k: tuple(v) for k, v in selected.items() if v}
    return filters.with_(**changes) if changes else filters


def selected_rows(key: str) -> list[int]:
    """The rows selected in a table drawn by `table(..., key=key, on_select="rerun")` (positions in it)."""
    state: Any = st.session_state.get(f"{key}.table")
    selection = (state.get("selection") if isinstance(state, dict) else getattr(state, "selection", None)) or {}
    rows = selection.get("rows") if isinstance(selection, dict) else getattr(selection, "rows", None)
    return list(rows or [])


def freshness(item: Freshness, what: str) -> None:
    """Under a derived figure: when it was refreshed, and a warning saying why when it is stale."""
    due = f"; next refresh due {item.due_by:%d %b %H:%M}" if item.due_by else ""
    if item.as_of is None:
        st.caption(f"{what} are computed as the page opens: the {item.job} job has not stored any yet.")
    elif item.stale:
        st.warning(f"{what} may be out of date: {item.caption().lower()}, {item.note}. An admin can check the "
                   "scheduler under Admin → Jobs.", icon=":material/update:")
    else:
        st.caption(f"{item.caption()} (the {item.job} job){due}.")


def scope_phrase(actor: Actor, noun: str, everyone: str | None = None) -> str:
    """Whose rows a caption speaks of: "Your own deals" (a rep), "Your team's deals" (a manager), else `everyone`
    or "Every team's deals"."""
    if actor.role == "rep":
        owner = "Your own"
    elif actor.role == "manager":
        owner = "Your team's"
    else:
        return everyone or " ".join(filter(None, ["Every team's", noun]))
    return " ".join(filter(None, [owner, noun]))
