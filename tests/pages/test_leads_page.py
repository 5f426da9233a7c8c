"""The Leads page as each role: the queue shows only the role's rows, bulk actions confirm before they change
anything, the forms validate and save, and the settings tabs are there for the roles that edit them."""

from __future__ import annotations

import pytest

from flashdash.access import resolve_actor
from flashdash.store import Store
from tests.conftest import NOW
from tests.pages.apptest import ROLES, open_page, texts

TABS = {"rep": ["Queue", "Lead", "New lead", "Scoring", "Qualification"],
        "manager": ["Queue", "Lead", "New lead", "Scoring", "Qualification", "Assignment", "Impact"],
        "analyst": ["Queue", "Lead", "Scoring", "Qualification", "Impact"],
        "admin": ["Queue", "Lead", "New lead", "Scoring", "Qualification", "Assignment", "Impact"]}


@pytest.fixture
def store(live_store: Store) -> Store:
    return live_store


def _queue(at):
    return next(df.value for df in at.dataframe if "days_in_stage" in df.value.columns)


def _owned(store: Store, role: str) -> set[int]:
    actor = resolve_actor(store, role)
    with store.read() as con:
        rows = con.execute("SELECT id FROM leads WHERE list_contains(?, owner_id)", [list(actor.scope_reps)]).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "executive"])
def test_every_role_sees_its_tabs_and_no_error(store: Store, role: str) -> None:
    at = open_page("leads", role)
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == TABS[role]


def test_the_executive_is_refused_the_page(store: Store) -> None:
    at = open_page("leads", "executive")
    assert not at.exception and "Leads" not in [t.value for t in at.title]


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_the_queue_shows_only_the_roles_own_leads(store: Store, role: str) -> None:
    at = open_page("leads", role)
    shown = set(_queue(at)["id"])
    assert shown and shown <= _owned(store, role)


def test_an_analyst_sees_contacts_masked(store: Store) -> None:
    queue = _queue(open_page("leads", "analyst"))
    assert set(queue["contact_name"].dropna()) == {"•••"}


def test_a_bulk_action_says_how_many_change_and_waits_for_the_confirmation(store: Store) -> None:
    at = open_page("leads", "manager")
    at.toggle(key="leads.bulk.all").set_value(True).run()
    at.selectbox(key="leads.bulk.kind").select("task").run()
    at.text_input(key="leads.bulk.title").input("Call about the webinar").run()
    at.button(key="leads.bulk.review").click().run()
    assert not at.exception
    (preview,) = [i.value for i in at.info if i.value.startswith("This adds")]
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0  # nothing until confirmed
    n = int(preview.split()[2].replace(",", ""))
    at.button(key="leads.bulk.confirm").click().run()
    assert any(s.value.startswith(f"Added {n:,} tasks") for s in at.success)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM tasks").fetchone()[0] == n


def test_the_new_lead_form_names_its_problems_then_saves_and_routes(store: Store) -> None:
    at = open_page("leads", "manager")
    at.text_input(key="leads.new.email").input("not-an-email")
    at.button(key="FormSubmitter:leads.new-Save lead").click().run()
    assert any("give the merchant's name" in e.value and "not an email address" in e.value for e in at.error)
    with store.read() as con:
        city = con.execute("SELECT c.name FROM cities c JOIN teams t ON t.region_id = c.region_id ORDER BY c.id "
                           "LIMIT 1").fetchone()[0]
    at.text_input(key="leads.new.merchant").input("Café Aurora")
    at.text_input(key="leads.new.email").input("ola@cafeaurora.example")
    at.selectbox(key="leads.new.city").select(city)
    at.button(key="FormSubmitter:leads.new-Save lead").click().run()
    assert not at.exception
    (done,) = [s.value for s in at.success]
    assert done.startswith("Saved lead ") and "Why:" in done
    with store.read() as con:
        assert con.execute("SELECT owner_id IS NOT NULL FROM leads WHERE merchant_name = 'Café Aurora'").fetchone()[0]


def test_a_lead_is_moved_by_hand_with_a_reason_and_a_call_is_logged_on_it(store: Store) -> None:
    with store.read() as con:
        lead_id = con.execute("SELECT min(id) FROM leads WHERE status = 'new' AND list_contains(?, owner_id)",
                              [list(resolve_actor(store, "rep").scope_reps)]).fetchone()[0]
    at = open_page("leads", "rep")
    at.text_input(key="leads.detail.ref").input(str(lead_id)).run()
    assert not at.exception and any(f"lead {lead_id}" in m.value for m in at.markdown)
    picker = at.selectbox(key=f"leads.detail.to_stage.{lead_id}")
    assert picker.value == "mql"  # a new lead's likely move is the next stage, offered first
    picker.select("disqualified")
    at.button(key="FormSubmitter:leads.detail.stage_form-Move").click().run()
    assert any("reason" in e.value.lower() for e in at.error)  # a reason is required
    at.text_input(key="leads.detail.reason").input("duplicate of another lead")
    at.button(key="FormSubmitter:leads.detail.stage_form-Move").click().run()
    with store.read() as con:
        row = con.execute("SELECT to_status, actor, reason FROM lead_stage_changes WHERE lead_id = ? ORDER BY id DESC "
                          "LIMIT 1", [lead_id]).fetchone()
    assert row == ("disqualified", "rep", "duplicate of another lead")
    at.button(key="FormSubmitter:leads.detail.activity_form-Log it").click().run()
    assert any(s.value.startswith("Logged the call") for s in at.success)


def test_a_saved_view_appears_in_the_view_list(store: Store) -> None:
    at = open_page("leads", "rep")
    at.text_input(key="leads.view.name").input("My hot ones")
    at.button(key="FormSubmitter:leads.save_view-Save view").click().run()
    assert not at.exception
    at = open_page("leads", "rep")
    assert "view:" in " ".join(at.selectbox(key="leads.view").options) or \
        "My hot ones (saved)" in at.selectbox(key="leads.view").options


def test_a_manager_saves_a_policy_and_a_bad_one_is_refused(store: Store) -> None:
    at = open_page("leads", "manager")
    assert "The built-in default" in texts(at)
    at.multiselect(key="leads.a.1.strategies").set_value(["weighted_round_robin", "territory"])
    at.button(key="FormSubmitter:leads.a.policy.1-Save policy").click().run()
    assert any("must come last" in e.value for e in at.error)
    at.multiselect(key="leads.a.1.strategies").set_value(["territory", "weighted_round_robin"])
    at.button(key="FormSubmitter:leads.a.policy.1-Save policy").click().run()
    assert any(s.value.startswith("Saved: new leads are routed by it") for s in at.success), [e.value for e in at.error]


def test_the_impact_tab_compares_the_period_with_a_baseline(store: Store) -> None:
    at = open_page("leads", "analyst")
    labels = [m.label for m in at.metric]
    for label in ("Lead response time (median, hours)", "Lead-to-opportunity conversion",
                  "Rep productivity (activities per rep per working day)"):
        assert label in labels
    assert "both cohorts judged at the same age" in texts(at)


def test_a_rep_opens_a_deal_from_the_lead_detail_and_then_sees_the_deal_is_open(store: Store) -> None:
    from flashdash import deals

    rep = resolve_actor(store, "rep")
    lead = deals.leads_for_deal(store, rep).row(0, named=True)
    at = open_page("leads", "rep")
    at = at.text_input(key="leads.detail.ref").input(str(lead["lead_id"])).run()
    key = f"leads.detail.deal.{lead['lead_id']}"
    submit = f"FormSubmitter:{key}.form-Open the deal"
    at.number_input(key=f"{key}.amount").set_value(9_500.0)
    at.date_input(key=f"{key}.expected_close").set_value(NOW.date().replace(year=2020))
    at = at.button(key=submit).click().run()
    assert any("in the past" in e.value for e in at.error)
    assert at.number_input(key=f"{key}.amount").value == 9_500.0  # what was typed is kept
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM opportunities WHERE lead_id = ?", [lead["lead_id"]]).fetchone() == (0,)
    at.date_input(key=f"{key}.expected_close").set_value(NOW.date())
    at = at.button(key=submit).click().run()
    assert not at.exception
    with store.read() as con:
        (deal_id,) = con.execute("SELECT id FROM opportunities WHERE lead_id = ? AND closed_at IS NULL",
                                 [lead["lead_id"]]).fetchone()
    assert any(s.value.startswith(f"Deal {deal_id} opened for {lead['merchant']}") for s in at.success)
    # the lead now has its deal: no second form, a line saying which deal to move instead
    assert not [b for b in at.button if b.key == submit]
    assert any(f"already has deal {deal_id} open" in c.value for c in at.caption)


def test_a_reader_gets_no_deal_form_on_the_lead_detail(store: Store) -> None:
    lead_id = min(_owned(store, "manager"))
    at = open_page("leads", "analyst")
    at = at.text_input(key="leads.detail.ref").input(str(lead_id)).run()
    assert not at.exception and not [b for b in at.button if "Open the deal" in (b.key or "")]
    assert "Open a deal" not in texts(at)
