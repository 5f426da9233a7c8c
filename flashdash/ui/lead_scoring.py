"""The Leads page's scoring tab: the models behind the lead score (global and per vertical, each with its
card and why it is or is not used), the settings, and the rules editor; and one lead's score as a waterfall."""

from __future__ import annotations

import polars as pl
import streamlit as st

from flashdash import charts, clock, org, predictive, scoring
from flashdash.access import AccessDenied, Actor
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui import model_card
from flashdash.ui.store import cached, current_store, show_problem

RULE_EDITORS = ("manager", "admin")


def render(actor: Actor) -> None:
    status = cached(predictive.model_status)
    card = status["card"]
    weight = cached(scoring.settings)["scoring.model_weight"]
    st.markdown(f"The **score** (0–100) is {weight:.0%} the model (where the lead stands among the leads it learned "
                f"from: 50 is a typical lead) and {1 - weight:.0%} the rules below. The **chance** beside it is the "
                "model's calibrated probability that the lead becomes a customer within the horizon.")
    if card is None:
        st.info("No model has been trained yet, so scores are the rules alone. The scheduler trains one nightly; "
                "an admin can run it now (Admin → Jobs).", icon=":material/model_training:")
    else:
        if status["fallback"]:
            st.warning(f"{status['fallback']} Scores are the rules alone until a model beats the baseline.",
                       icon=":material/warning:")
        _models(card, status["verticals"])
    _settings(actor)
    _rules(actor)


def _models(card: dict, verticals: list[dict]) -> None:
    st.subheader("Models")
    with st.expander("The global model's card", expanded=False):
        st.text(predictive.card_text(card))
        if card["status"] == "ok":
            model_card.charts_of(card, "leads.s.card")
    if verticals:
        rows = [{"vertical": v["vertical"], "used": v["used"], "why": v["reason"],
                 "training leads": v["train"]["n"], "AUC": (v.get("metrics") or {}).get("auc"),
                 "global AUC on it": (v.get("global_metrics") or {}).get("auc")} for v in verticals]
        st.caption(f"A vertical gets a model of its own when it has at least {verticals[0]['min_leads']:,} training "
                   f"leads and {verticals[0]['min_wins']:,} wins, and is used only where it beats the global model "
                   "on that vertical's own out-of-time test leads.")
        ui.table(pl.DataFrame(rows), "vertical_models", key="leads.s.verticals",
                 column_config={"AUC": st.column_config.NumberColumn(format="%.3f"),
                                "global AUC on it": st.column_config.NumberColumn(format="%.3f")})


def _settings(actor: Actor) -> None:
    table = cached(scoring.settings_frame)
    with st.expander("Settings (the blend, the horizon, the vertical minimums)"):
        ui.table(table, "scoring_settings", key="leads.s.settings")
        if actor.role != "admin":
            return
        values = dict(zip(table["key"].to_list(), table["value"].to_list(), strict=True))
        with st.form("leads.s.settings_form", border=False):
            c1, c2, c3, c4 = st.columns(4)
            weight = c1.number_input("Model's share", 0.0, 1.0, float(values["scoring.model_weight"]), 0.05,
                                     key="leads.s.weight")
            horizon = c2.number_input("Horizon (days)", 7, 730, int(values["scoring.horizon_days"]),
                                      key="leads.s.horizon")
            leads = c3.number_input("Vertical: least leads", 50, 1_000_000, int(values["scoring.min_vertical_leads"]),
                                    key="leads.s.min_leads")
            wins = c4.number_input("Vertical: least wins", 10, 100_000, int(values["scoring.min_vertical_wins"]),
                                   key="leads.s.min_wins")
            if st.form_submit_button("Save settings", icon=":material/save:"):
                try:
                    scoring.save_settings(current_store(), actor, {
                        "scoring.model_weight": weight, "scoring.horizon_days": int(horizon),
                        "scoring.min_vertical_leads": int(leads), "scoring.min_vertical_wins": int(wins)}, clock.now())
                except (ValueError, AccessDenied, StoreError) as exc:
                    show_problem(exc)
                else:
                    st.success("Saved. The weight applies at the next scoring run; the horizon and minimums at the "
                               "next training.", icon=":material/done:")


def _rules(actor: Actor) -> None:
    st.subheader("Rules")
    teams = cached(org.filter_options, actor)["teams"]
    options: list[int | None] = [None, *teams["id"].to_list()]
    names = dict(zip(teams["id"].to_list(), teams["name"].to_list(), strict=True))
    team = st.selectbox("Rules of", options, key="leads.s.rules_team",
                        format_func=lambda t: "every team (store-wide)" if t is None else names[t]) if options else None
    try:
        current = cached(scoring.rules, actor, team)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    source = current["source"][0] if current.height else "none"
    st.caption({"starter": "The starter rules apply: no store-wide rules are saved yet.",
                "store": "The store-wide rules.", "team": "This team's own rules, on top of the store-wide ones."}
               .get(source, "No rules yet.") + " Points add up (capped at 0–100) and make up the rules' share.")
    shown = current.select("label", "field", "op", "value", "points", "active")
    if actor.role not in RULE_EDITORS or (team is None and actor.role != "admin"):
        ui.table(current.select("label", "condition", "points", "active"), "score_rules", key="leads.s.rules")
        return
    fields = scoring.rule_fields()
    edited = st.data_editor(shown, num_rows="dynamic", hide_index=True, width="stretch",
                            key=f"leads.s.rules.{team}", column_config={
                                "field": st.column_config.SelectboxColumn("field", options=fields["field"].to_list(),
                                                                          required=True),
                                "op": st.column_config.SelectboxColumn(
                                    "operator", options=sorted({o for ops in fields["ops"] for o in ops}),
                                    required=True),
                                "value": st.column_config.TextColumn("value", help='JSON: "hot", ["a", "b"], 50000'),
                                "points": st.column_config.NumberColumn("points", min_value=-100, max_value=100),
                            })
    if st.button("Save rules", key=f"leads.s.save_rules.{team}", icon=":material/save:"):
        try:
            scoring.save_rules(current_store(), actor, team, edited, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.success("Saved. Leads are rescored with them at the next scoring run, and each lead at once when "
                       "it changes.", icon=":material/done:")
    with st.expander("Fields and operators a rule can use"):
        ui.table(fields.with_columns(pl.col("ops").list.join(", "), pl.col("values").list.join(", ")),
                 "rule_fields", key="leads.s.fields")


def breakdown(actor: Actor, lead_id: int) -> None:
    """One lead's score as a waterfall: the factors that raised and lowered it, and by how much."""
    try:
        out = cached(scoring.breakdown, actor, lead_id, clock.now().replace(second=0))
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    if out["score"] is None:
        st.caption("This lead is closed: it has no score.")
        return
    chance = "–" if out["probability"] is None else f"{out['probability']:.0%}"
    c1, c2, c3 = st.columns(3)
    c1.metric("Score", f"{out['score']:.0f}", help="0–100: the model's view blended with the rules.", border=True)
    c2.metric("Chance to become a customer", chance, help="The model's calibrated probability.", border=True)
    c3.metric("Band", out["band"] or "–", border=True)
    st.caption(out["note"] + (" Scored as the page opened." if out["live"] else
                              f" Scored {out['scored_at']:%d %b %H:%M}."))
    if not out["factors"].is_empty():
        ui.chart(charts.waterfall(out["factors"], title="What raised and lowered the score"),
                 key="leads.detail.waterfall")
