"""The Leads page's scoring tab: the model behind the lead score, its card and what it leans on."""

from __future__ import annotations

import polars as pl
import streamlit as st

from flashdash import charts, predictive
from flashdash.access import Actor
from flashdash.ui import components as ui
from flashdash.ui.store import cached


def render(actor: Actor) -> None:
    status = cached(predictive.model_status)
    card = status["card"]
    if card is None:
        st.info("No model has been trained yet: scores come from the baseline rule.", icon=":material/model_training:")
        return
    if status["fallback"]:
        st.warning(status["fallback"], icon=":material/warning:")
    st.text(predictive.card_text(card))
    if card.get("importance"):
        ui.chart(charts.bar_select(pl.DataFrame(card["importance"]), "label", "importance", param="lead_feature",
                                   title="What the model leans on", value_title="Mean |contribution|", fmt=".2f"),
                 key="leads.s.importance")
