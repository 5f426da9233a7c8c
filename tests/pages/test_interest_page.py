"""The Interest levels page with AppTest: renders per role, the user's own leads only, the honest note."""

from __future__ import annotations

import pytest

from flashdash import access
from flashdash.store import Store
from tests import stored
from tests.pages.apptest import open_page, texts


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_the_page_renders_its_figures_charts_and_note(role: str) -> None:
    at = open_page("interest", role)
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric] == ["Leads", "Hot", "Unknown level", "Won so far"]
    assert [s.value for s in at.subheader][:3] == ["Where the interest comes from", "Over time",
                                                  "Conversion by interest level"]
    assert "still open" in texts(at) and "95% Wilson" in texts(at)
    conversion = next(df.value for df in at.dataframe if "won_so_far_pct" in df.value.columns)
    assert list(conversion["level"]) == ["cold", "warm", "hot", "unknown"]


def test_a_rep_counts_only_their_own_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    [(own,)] = _sql(demo_store, """SELECT count(*) FROM leads WHERE owner_id = ?
                                   AND submitted_at >= DATE '2025-07-01' AND submitted_at < DATE '2026-07-01'""",
                    [rep.rep_id])
    at = open_page("interest", "rep")
    assert int(at.metric[0].value.replace(",", "")) == own
    conversion = next(df.value for df in at.dataframe if "won_so_far_pct" in df.value.columns)
    assert conversion["leads"].sum() == own


def test_an_empty_period_shows_the_empty_state() -> None:
    at = open_page("interest", "manager", query={"start": "2019-01-01", "end": "2019-01-31"}, preset=None)
    assert not at.exception
    assert any("No leads in this period" in i.value for i in at.info)
    assert not at.metric and not at.dataframe
