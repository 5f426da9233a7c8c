"""The sales funnel page with AppTest: every role, the stage table, segments, the empty state."""

from __future__ import annotations

from datetime import date

import pytest

from flashdash import access, funnel
from flashdash.filters import Filters
from flashdash.store import Store
from tests.pages.apptest import ROLES, open_page


def _stages(at):
    return next(df.value for df in at.dataframe if "median_days_in_stage" in df.value.columns)


def _segments(at):
    return next(df.value for df in at.dataframe if "segment" in df.value.columns)


@pytest.mark.parametrize("role", ROLES)
def test_the_funnel_renders_for_every_role(role: str) -> None:
    at = open_page("funnel", role)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Sales funnel"
    stages = _stages(at)
    assert list(stages["stage"]) == ["New", "MQL", "SQL", "Opportunity", "Won"]
    reached = list(stages["reached"])
    assert reached == sorted(reached, reverse=True) and reached[0] > 0
    assert [m.label for m in at.metric] == ["Leads submitted", "Won so far", "New → Won", "Still moving through"]
    assert any("still open" in c.value for c in at.caption)


def test_a_reps_funnel_counts_only_their_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    at = open_page("funnel", "rep", preset="Last 90 days")
    stages = _stages(at)
    expected = funnel.funnel(demo_store, rep, Filters(start=date(2026, 4, 2), end=date(2026, 6, 30)), "channel")
    assert list(stages["reached"]) == expected["stages"]["reached"].to_list()
    assert expected["leads"] < funnel.funnel(demo_store, access.resolve_actor(demo_store, "admin"),
                                             Filters(start=date(2026, 4, 2), end=date(2026, 6, 30)))["leads"]


def test_switching_the_segment_dimension_compares_the_teams() -> None:
    at = open_page("funnel", "admin")
    at.selectbox(key="funnel.dimension").set_value("team").run()
    assert not at.exception
    segments = _segments(at)
    assert len(segments) >= 2 and list(segments.columns[:2]) == ["segment", "leads"]
    assert sum(segments["leads"]) == _stages(at)["reached"].iloc[0]


def test_an_empty_period_shows_the_empty_state() -> None:
    at = open_page("funnel", "manager", query={"start": "2019-01-01", "end": "2019-01-31"}, preset=None)
    assert not at.exception
    assert any("Widen the date range" in i.value for i in at.info)
    assert not at.dataframe and not at.metric
