"""A trained model's card as charts: calibration and lift on its out-of-time test period, and what it leans on."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from flashdash import charts
from flashdash.ui import components as ui


def charts_of(card: dict[str, Any], key: str) -> None:
    """Calibration, lift by decile and importance of `card` (a model with status ok), keyed under `key`."""
    left, right = st.columns(2)
    with left:
        st.altair_chart(charts.calibration(pl.DataFrame(card["calibration"]["model"]),
                                           title="Calibration on the test period"),
                        width="stretch", key=f"{key}.calibration")
    with right:
        lift = pl.DataFrame(card["lift"]["model"]).with_columns(decile=pl.col("decile").cast(pl.String).str.zfill(2))
        ui.chart(charts.bar_select(lift, "decile", "lift", param=f"{key.replace('.', '_')}_decile", horizontal=False,
                                   sort="ascending", title="Lift by decile (01 = highest scores)",
                                   value_title="Win rate ÷ average", fmt=".1f"), key=f"{key}.lift")
    ui.chart(charts.bar_select(pl.DataFrame(card["importance"]), "label", "importance",
                               param=f"{key.replace('.', '_')}_feature",
                               title="What the model leans on (mean |contribution| to log-odds)",
                               value_title="Mean |contribution|", fmt=".2f"), key=f"{key}.importance")
    if card.get("constant_features"):
        st.caption("The same for every lead in the training period, so the model cannot learn from them: "
                   + ", ".join(card["constant_features"]) + ".")
