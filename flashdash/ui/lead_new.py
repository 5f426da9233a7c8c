"""The Leads page's new-lead form: saved, routed, scored and qualified in one click, with where it went and why."""

from __future__ import annotations

import streamlit as st

from flashdash import clock, leads
from flashdash.access import AccessDenied, Actor
from flashdash.entities import COMPANY_SIZES, INTEREST_LEVELS
from flashdash.leads import LeadError, NewLead
from flashdash.store import StoreError
from flashdash.ui.store import cached, current_store, show_store_error

LANGUAGES = ("en", "es", "fr", "pt", "vi", "zh")


def render(actor: Actor) -> None:
    options = cached(leads.form_options)
    with st.form("leads.new", clear_on_submit=False):
        c1, c2 = st.columns(2)
        merchant = c1.text_input("Merchant *", key="leads.new.merchant", max_chars=leads.MAX_TEXT)
        contact = c2.text_input("Contact name", key="leads.new.contact", max_chars=leads.MAX_TEXT)
        email = c1.text_input("Email", key="leads.new.email")
        phone = c2.text_input("Phone", key="leads.new.phone")
        city = c1.selectbox("City", options["city"], index=None, key="leads.new.city",
                            help="Decides the territory and the team it is routed to.")
        vertical = c2.selectbox("Vertical", options["vertical"], index=None, key="leads.new.vertical",
                                accept_new_options=True)
        size = c1.selectbox("Company size", COMPANY_SIZES, index=None, key="leads.new.size")
        volume = c2.number_input("Monthly payment volume (est., $)", min_value=0.0, value=None, step=1000.0,
                                 key="leads.new.volume")
        channel = c1.selectbox("Channel", options["channel"], index=None, key="leads.new.channel",
                               accept_new_options=True)
        interest = c2.selectbox("Interest level", INTEREST_LEVELS, index=None, key="leads.new.interest")
        campaign = c1.text_input("Campaign", key="leads.new.campaign")
        language = c2.selectbox("Language", LANGUAGES, index=0, key="leads.new.language", accept_new_options=True)
        budget = st.checkbox("Budget confirmed", key="leads.new.budget")
        saved = st.form_submit_button("Save lead", type="primary", icon=":material/person_add:")
    if not saved:
        st.caption("* required; an email or a phone too. "
                   + ("Your own leads stay with you." if actor.role == "rep" else
                      "The lead is routed by its team's assignment policy as it is saved."))
        return
    try:
        out = leads.create_lead(current_store(), actor, NewLead(
            merchant, contact, email, phone, vertical, size, volume, city, channel, campaign, None, interest,
            language, budget), clock.now())
    except (LeadError, AccessDenied) as exc:
        st.error(str(exc), icon=":material/block:")
        return
    except StoreError as exc:
        show_store_error(exc)
        return
    owner = out["owner"] or "nobody yet"
    score = f"; score {out['score']:.0f}" if out.get("score") is not None else ""
    st.success(f"Saved lead {out['id']} ({out['status'].upper()}{score}). Owner: {owner}. "
               f"Why: {out['assignment_reason'] or 'no routing recorded'}.", icon=":material/how_to_reg:")
