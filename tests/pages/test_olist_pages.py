"""Every page as every role on an imported Olist funnel: no exception, its real figures, honest empty states.

The pages open as a person first sees them: no preset chosen, so the period is the store's default, which
for data that ends in 2018 is all of it (with a note saying so).
"""

from __future__ import annotations

import pytest

from flashdash import access, predictive
from flashdash.store import Store
from tests.conftest import NOW
from tests.pages.apptest import ROLES, open_page, texts

FALLBACK = "so the period starts as all the data: Jun 14, 2017 – Nov 14, 2018"


@pytest.fixture(autouse=True)
def page_env(olist_sample_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like tests.pages.apptest.page_env (which it replaces here), on the imported Olist sample."""
    monkeypatch.setenv("FLASHDASH_DB", str(olist_sample_store.path))
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())
    monkeypatch.setenv("FLASHDASH_MODELS", str(olist_sample_store.path.parent / "models"))
    monkeypatch.setenv("FLASHDASH_COOKIE_KEY", "test-cookie-key")


def use(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setenv("FLASHDASH_DB", str(store.path))
    monkeypatch.setenv("FLASHDASH_MODELS", str(store.path.parent / "models"))


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frames(at) -> dict[str, object]:
    return {df.key: df.value for df in at.dataframe if df.key}


@pytest.mark.parametrize(("page", "role"), [(p.key, r) for p in access.PAGES for r in ROLES if r in p.roles])
def test_every_page_opens_on_the_olist_import_for_its_roles(page: str, role: str) -> None:
    at = open_page(page, role, preset=None)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title and at.title[0].value
    shown = texts(at)
    assert "nan" not in shown.lower().split() and "NaN" not in str([m.value for m in at.metric])
    if page not in ("intelligence", "admin"):  # the pages with the shared filters
        assert FALLBACK in shown


def test_the_executive_summary_shows_the_samples_figures() -> None:
    at = open_page("executive", "executive", preset=None)
    got = metrics(at)
    assert (got["New submissions"], got["Lead-to-customer conversion"], got["Active customers"]) == \
        ("400", "25.0%", "100")
    assert got["Median first response"] == "–"  # not recorded, so not 0
    assert "No comparable previous period" in texts(at)


def test_a_manager_is_told_their_book_holds_only_won_leads() -> None:
    at = open_page("executive", "manager", preset=None)
    assert metrics(at)["Lead-to-customer conversion"] == "100.0%"
    assert any("only once the lead is won" in i.value for i in at.info)
    assert not any("only once the lead is won" in i.value for i in open_page("executive", "admin", preset=None).info)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_the_scoreboard_offers_sdr_and_closer_views(role: str) -> None:
    at = open_page("scoreboard", role, preset=None)
    assert at.button_group(key="sb.view").options == ["All reps", "SDRs", "Closers"]
    assert len(frames(at)["sb.reps.all.leads.table"]) == 31  # every rep (20 SDRs, 11 closers), not the manager
    assert "This data records no activities, first responses or quotas" in texts(at)

    at.button_group(key="sb.view").set_value("sdr").run()
    assert not at.exception
    sdrs = frames(at)["sb.reps.sdr.all.leads.table"]
    assert len(sdrs) == 20 and sdrs["leads"].sum() == 100 and set(sdrs["title"]) == {"sdr"}
    assert [o for o in at.selectbox(key="sb.metric.sdr").options] == ["Leads handled", "Leads won", "Conversion"]
    assert any("only once it is won" in i.value for i in at.info)

    at.button_group(key="sb.view").set_value("closer").run()
    assert not at.exception
    closers = frames(at)["sb.reps.closer.all.won_deals.table"]
    assert len(closers) == 19 and closers["won_deals"].sum() == 100
    assert "leads" not in closers.columns and "won_revenue" in closers.columns
    at.session_state["sb.reps.closer.all.won_deals.table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    assert f"Won deals of {closers['rep'].iloc[0]}" in [s.value for s in at.subheader]
    deals = next(df.value for df in at.dataframe if "amount" in df.value.columns)
    assert len(deals) == closers["won_deals"].iloc[0]


def test_a_rep_sees_their_own_sdr_row_without_the_figures_olist_lacks() -> None:
    at = open_page("scoreboard", "rep", preset=None)
    assert not at.button_group  # one row: nothing to switch between
    assert set(metrics(at)) == {"Leads handled", "Conversion", "Won revenue"}


def test_interest_levels_say_there_are_none_and_show_conversion_by_channel() -> None:
    at = open_page("interest", "analyst", preset=None)
    assert any("None of the period's 400 leads has an interest level" in i.value for i in at.info)
    assert metrics(at) == {"Leads": "400", "Won so far": "25.0%"}
    table = next(df.value for df in at.dataframe if "channel" in df.value.columns)
    assert table["leads"].sum() == 400 and table["won"].sum() == 100 and "(none)" in set(table["channel"])


def test_the_funnel_shows_400_submissions_and_100_won_and_that_the_rest_never_closed() -> None:
    at = open_page("funnel", "executive", preset=None)
    got = metrics(at)
    assert (got["Leads submitted"], got["Won so far"], got["New → Won"]) == ("400", "100", "25.0%")
    assert got["Never closed"] == "300"  # not "still moving through": the data ended in 2018
    assert "in data that ends on Nov 14, 2018" in texts(at) and "will rise" not in texts(at)


def test_pages_without_their_data_say_so() -> None:
    assert metrics(open_page("submissions", "admin", preset=None))["Responded"] == "–"
    history = open_page("activities", "admin", preset=None, tab="History")
    assert any("records no activities" in i.value for i in history.info)
    revenue = open_page("revenue", "admin", preset=None)
    assert any("No open deals" in i.value for i in revenue.info)
    assert any("No deals were lost" in i.value for i in revenue.info)
    customers = open_page("customers", "admin", preset=None)
    assert any("records no payment usage" in i.value for i in customers.info)
    table = next(df.value for df in customers.dataframe if "merchant_name" in df.value.columns)
    assert len(table) == 100 and "behaviour_profile" in table.columns and "volume_90d" not in table.columns


def test_the_predictive_page_says_the_sample_is_too_small_for_the_model() -> None:
    at = open_page("predictive", "analyst", preset=None)
    assert any("only 400 leads" in w.value and "baseline rule" in w.value for w in at.warning)
    assert "Scores of 300 open leads (baseline rule)" in texts(at) or any(
        len(df.value) == 300 for df in at.dataframe)


def test_a_preset_picked_by_hand_still_wins_over_the_fallback() -> None:
    at = open_page("executive", "admin", preset="Last 90 days")
    assert not at.exception
    assert FALLBACK not in texts(at)
    assert "Apr 02, 2026 – Jun 30, 2026" in texts(at)  # the last 90 days
    assert metrics(at)["New submissions"] == "0"


def test_a_link_with_dates_still_sets_the_period() -> None:
    at = open_page("executive", "admin", query={"start": "2018-01-01", "end": "2018-01-31"}, preset=None)
    assert not at.exception
    assert "Jan 01, 2018 – Jan 31, 2018" in texts(at)
    assert int(metrics(at)["New submissions"]) > 0


# ---------------------------------------------------------------- the full files (when present)


def test_the_full_funnel_shows_8000_submissions_842_won(olist_full_store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, olist_full_store)
    got = metrics(open_page("executive", "executive", preset=None))
    assert (got["New submissions"], got["Lead-to-customer conversion"]) == ("8,000", "10.5%")
    got = metrics(open_page("funnel", "analyst", preset=None))
    assert (got["Leads submitted"], got["Won so far"]) == ("8,000", "842")


def test_the_full_funnels_model_card_shows_its_out_of_time_auc(olist_full_store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, olist_full_store)
    card = predictive.latest_card(olist_full_store)
    at = open_page("predictive", "analyst", preset=None)
    assert not at.exception and not at.warning
    auc = next(m for m in at.metric if m.label.startswith("AUC"))
    assert auc.value == f"{card['metrics']['auc']:.3f}"
    assert "vs baseline" in auc.delta and auc.delta.startswith("+")
