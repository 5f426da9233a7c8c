"""The rep scoreboard page with AppTest: every role, the rep's single row, the manager's drill, the empty state."""

from __future__ import annotations

import pytest

from flashdash import access, scoreboard
from flashdash.store import Store
from tests.pages.apptest import ROLES, open_page


def _frames(at) -> dict[str, object]:
    """The page's selectable tables by their widget key."""
    return {df.key: df.value for df in at.dataframe if df.key}


def _leads(at):
    """The drilled-to rep's leads (a plain table: AppTest gives it no key), or None."""
    return next((df.value for df in at.dataframe if "merchant_name" in df.value.columns), None)


@pytest.mark.parametrize("role", ROLES)
def test_the_scoreboard_renders_for_every_role(role: str) -> None:
    at = open_page("scoreboard", role)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Rep scoreboard"
    frames = _frames(at)
    assert "sb.reps.all.leads.table" in frames
    assert ("sb.teams.table" in frames) == (role != "rep")
    assert ("sb.metric" in [s.key for s in at.selectbox]) == (role != "rep")  # a single row has no ranking


def test_a_rep_sees_a_single_row_and_their_own_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    at = open_page("scoreboard", "rep")
    reps = _frames(at)["sb.reps.all.leads.table"]
    assert list(reps["rep_id"]) == [rep.rep_id]
    assert {m.label for m in at.metric} == {m.label for m in scoreboard.METRICS}  # their figures, not a ranking
    leads = _leads(at)  # a single row is focused at once
    assert len(leads) > 0 and set(leads["owner"]) == {reps["rep"].iloc[0]}


def test_ranking_by_another_metric_reorders_the_table() -> None:
    at = open_page("scoreboard", "admin")
    at.selectbox(key="sb.metric").set_value("median_response_hours").run()
    assert not at.exception
    reps = _frames(at)["sb.reps.all.median_response_hours.table"]
    hours = list(reps["median_response_hours"].dropna())
    assert hours == sorted(hours) and list(reps["rank"].dropna())[0] == 1


def test_a_manager_drills_from_team_to_rep_to_lead(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    at = open_page("scoreboard", "manager")
    teams = _frames(at)["sb.teams.table"]
    assert len(teams) == 1
    assert _leads(at) is None

    at.session_state["sb.teams.table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    team_id = int(teams["team_id"].iloc[0])
    assert any(s.value == f"Reps of {teams['team'].iloc[0]}" for s in at.subheader)
    reps = _frames(at)[f"sb.reps.{team_id}.leads.table"]
    assert len(reps) > 1 and set(reps["rep_id"]) <= set(manager.scope_reps)

    at.session_state[f"sb.reps.{team_id}.leads.table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    leads = _leads(at)
    assert len(leads) > 0 and set(leads["owner"]) == {reps["rep"].iloc[0].removesuffix(" (inactive)")}
    assert "•••" not in set(leads["email"].dropna())  # a manager reads their team's contact details


def test_an_admin_narrowing_to_a_team_sees_only_its_reps() -> None:
    at = open_page("scoreboard", "admin")
    teams = _frames(at)["sb.teams.table"]
    everyone = _frames(at)["sb.reps.all.leads.table"]
    assert len(teams) > 1
    at.session_state["sb.teams.table"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    team_id = int(teams["team_id"].iloc[1])
    reps = _frames(at)[f"sb.reps.{team_id}.leads.table"]
    assert 0 < len(reps) < len(everyone) and set(reps["team"]) == {teams["team"].iloc[1]}


def test_an_empty_period_shows_the_empty_state() -> None:
    at = open_page("scoreboard", "manager", query={"start": "2019-01-01", "end": "2019-01-31"}, preset=None)
    assert not at.exception
    assert any("Widen the date range" in i.value for i in at.info)
    assert not at.dataframe
