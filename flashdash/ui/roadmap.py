"""An honest note on a page whose phase is not built yet: what works today and what is coming."""

from __future__ import annotations

import streamlit as st


def note(phase: str, works: str, coming: list[str]) -> None:
    with st.container(border=True):
        st.markdown(f"**{phase} — in progress.** {works}")
        st.markdown("Not built yet: " + "; ".join(coming) + ".")
