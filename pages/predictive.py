"""Predictive foundation: the conversion model's card beside its scores of the open leads."""

import polars as pl
import streamlit as st

from flashdash import charts, clock, predictive, schedule
from flashdash.ui import components as ui
from flashdash.ui import model_card
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("predictive")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Predictive foundation", filters, "open leads submitted in the period, scored for conversion")
    status = cached(predictive.model_status)
    card, fallback = status["card"], status["fallback"]

    if card is None:
        st.info("No conversion model has been trained yet, so open leads are scored with the baseline rule "
                f"({predictive.BASELINE_RULE}). An admin trains it with `python -m flashdash train`.",
                icon=":material/model_training:")
    elif fallback:
        st.warning(f"{fallback} Scores below come from the baseline rule ({predictive.BASELINE_RULE}), "
                   "not the model.", icon=":material/warning:")

    minute = clock.now().replace(second=0)  # freshness is judged to the minute, and cached as long
    if card is not None:
        st.subheader("Model card")
        st.caption(f"{card['algorithm']} · label: {card['label']} · trained "
                   f"{card['trained_at'][:16].replace('T', ' ')} · tested out of time on the latest 25% of leads")
        model_freshness = cached(schedule.freshness_of, "Conversion model", minute)
        if model_freshness.stale:
            ui.freshness(model_freshness, "The model")
        if card["status"] == "ok":
            m, b = card["metrics"], card["baseline_metrics"]
            c1, c2, c3 = st.columns(3)
            c1.metric("AUC (higher is better)", f"{m['auc']:.3f}", delta=f"{m['auc'] - b['auc']:+.3f} vs baseline",
                      help=f"Baseline AUC {b['auc']:.3f}: {predictive.BASELINE_RULE}.", border=True)
            c2.metric("Brier score (lower is better)", f"{m['brier']:.4f}",
                      delta=f"{m['brier'] - b['brier']:+.4f} vs baseline", delta_color="inverse",
                      help=f"Baseline Brier {b['brier']:.4f}.", border=True)
            c3.metric("Calibration error (ECE)", f"{m['ece']:.4f}", delta=f"{m['ece'] - b['ece']:+.4f} vs baseline",
                      delta_color="inverse", help=f"Baseline ECE {b['ece']:.4f}; 10 equal-width bins.", border=True)
        spans = ("train", "test") if card["status"] == "ok" else ("labelled",)
        for col, name in zip(st.columns(len(spans)), spans, strict=True):
            span = card[name]
            col.markdown(f"**{name.capitalize()}**: {span['n']:,} leads"
                         + (f", {span['start'][:10]} – {span['end'][:10]}, {span['positive_rate']:.1%} won"
                            if span["n"] else ""))

    if card is not None and card["status"] == "ok":
        model_card.charts_of(card, "pred")
        with st.expander("Model and baseline, bin by bin"):
            ui.table(pl.DataFrame(card["lift"]["model"]), "conversion_lift_model", key="pred.lift_model")
            ui.table(pl.DataFrame(card["lift"]["baseline"]), "conversion_lift_baseline", key="pred.lift_baseline")
            ui.table(pl.DataFrame(card["calibration"]["baseline"]), "conversion_calibration_baseline",
                     key="pred.cal_baseline")

    st.subheader("Open leads")
    ui.freshness(cached(schedule.freshness_of, "Lead scores", minute), "These scores")
    scored = cached(predictive.scores, actor, filters)
    if scored.is_empty():
        ui.empty("No open leads match the filters.")
        st.stop()
    by = scored["scored_by"][0]
    if by == "none":
        st.info("There is no labelled history yet, so these leads carry no probability.")
    else:
        st.altair_chart(charts.histogram(scored.select("probability").drop_nulls(), "probability",
                                         title=f"Scores of {scored.height:,} open leads ({by})"),
                        width="stretch", key="pred.distribution")
    st.caption("Bands compare a lead's probability with the base rate: high is at least 1.5×, low under two-thirds. "
               "Leads younger than a week have not yet had their first week of activity, so their scores may rise.")
    if scored.height > predictive.EXPLAINED:
        st.caption(f"The {predictive.EXPLAINED:,} highest-scored of {scored.height:,} open leads, with their factors.")
    ui.table(scored.head(predictive.EXPLAINED), "open_lead_scores", key="pred.scores",
             column_config={"probability": st.column_config.ProgressColumn("probability", format="percent",
                                                                           min_value=0.0, max_value=1.0)})
