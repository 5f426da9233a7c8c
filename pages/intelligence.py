"""Intelligence: conversation and market intelligence are not built yet; this page says so."""

import streamlit as st

from flashdash.ui import roadmap
from flashdash.ui.auth import guard

actor = guard("intelligence")
st.title("Intelligence")
roadmap.note("Conversation and market intelligence", "Nothing here yet: this page holds its place in the menu.",
             ["call and email insights", "competitor mentions", "market and segment trends"])
if actor.role in ("manager", "analyst", "admin"):
    st.caption("Today's model insight, the conversion model with its card, is on the Predictive foundation page.")
