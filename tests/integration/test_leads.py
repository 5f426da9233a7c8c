"""The new-lead form: validated, de-duplicated by email, routed, and qualified in the same request."""

from __future__ import annotations

import pytest

from flashdash import crypto, leads
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.leads import LeadError, NewLead
from flashdash.store import Store
from tests.conftest import NOW


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


def _city(store: Store) -> str:
    with store.read() as con:  # a city in a region that has a team, so it can be routed
        return con.execute("SELECT c.name FROM cities c JOIN teams t ON t.region_id = c.region_id "
                           "ORDER BY c.id LIMIT 1").fetchone()[0]


def test_a_manager_enters_a_lead_and_it_is_routed_with_its_reason(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    out = leads.create_lead(store, manager, NewLead(" Padaria Nova ", "Ana Lima", "ana@padarianova.example",
                                                    vertical="Restaurants", city=_city(store), channel="referral",
                                                    interest_level="Hot", monthly_volume=40_000), NOW)
    assert out["owner_id"] is not None and out["assignment_reason"] and out["score"] is not None
    with store.read() as con:
        row = con.execute("SELECT merchant_name, vertical, interest_level, region_id, submitted_at FROM leads "
                          "WHERE id = ?", [out["id"]]).fetchone()
        history = con.execute("SELECT from_status, to_status, actor FROM lead_stage_changes WHERE lead_id = ?",
                              [out["id"]]).fetchall()
    assert row[:3] == ("Padaria Nova", "restaurants", "hot") and row[3] is not None and row[4] == NOW
    assert history[0] == (None, "new", "manager")
    # a hot referral with a good volume scores high enough for the MQL rule, in the same request
    assert out["score"] >= 40 and out["status"] == "mql" and history[1] == ("new", "mql", "rule")


def test_a_reps_own_lead_stays_theirs(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    out = leads.create_lead(store, rep, NewLead("Oficina do Zé", email="ze@oficina.example"), NOW)
    assert out["owner_id"] == rep.rep_id and "entered by its rep" in out["assignment_reason"]


def test_every_problem_is_named_and_nothing_is_saved(store: Store) -> None:
    with store.read() as con:
        before = con.execute("SELECT count(*) FROM leads").fetchone()
    with pytest.raises(LeadError) as caught:
        leads.create_lead(store, Actor("admin", "A", "admin"),
                          NewLead("  ", email="not-an-email", company_size="huge", monthly_volume=-5), NOW)
    for part in ("give the merchant's name", "'not-an-email' is not an email address",
                 "company size must be one of", "monthly volume must be between 0"):
        assert part in str(caught.value)
    with pytest.raises(LeadError, match="give an email or a phone number"):
        leads.create_lead(store, Actor("admin", "A", "admin"), NewLead("Nobody Home"), NOW)
    with pytest.raises(LeadError, match="is not a city Flash serves"):
        leads.create_lead(store, Actor("admin", "A", "admin"), NewLead("X", phone="555 0100", city="Atlantis"), NOW)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM leads").fetchone() == before


def test_an_email_already_in_the_store_is_refused_naming_the_lead_when_visible(store: Store) -> None:
    with store.read() as con:
        lead_id, sealed = con.execute("SELECT id, email FROM leads WHERE email IS NOT NULL ORDER BY id LIMIT 1"
                                      ).fetchone()
    email = crypto.open_(store.keyring, sealed)
    with pytest.raises(LeadError, match=f"already lead {lead_id} "):
        leads.create_lead(store, Actor("admin", "A", "admin"), NewLead("Again", email=f"  {email.upper()} "), NOW)
    nobody = Actor("r", "R", "rep", rep_id=-1, scope_reps=(-1,))
    with pytest.raises(LeadError, match="a lead in another team's book"):
        leads.create_lead(store, nobody, NewLead("Again", email=email), NOW)


def test_readers_do_not_enter_leads(store: Store) -> None:
    with pytest.raises(AccessDenied):
        leads.create_lead(store, Actor("a", "A", "analyst"), NewLead("X", phone="555 0100"), NOW)
