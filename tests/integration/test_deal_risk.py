"""Deal risk: the signs as the SQL reads them from a deal's history on a hand-made store, and the scores, levels,
evaluation, refresh and scope on the XS demo."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flashdash import deal_risk
from flashdash.access import Actor, resolve_actor
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
D = datetime.fromisoformat


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Deal 1 (rep 1): created May 1 in discovery, proposal May 10, negotiation May 20, lost June 10; its expected
    close pushed from May 25 to June 8 on May 24; activities May 2, 12 and 21. Deal 2 (rep 1): open, discovery
    June 20, proposal June 25, an email opened June 27. Deal 3 (rep 2): open in negotiation since June 1, no
    recorded history, no activity."""
    store = Store(Path(tmp_path_factory.mktemp("risk")) / "tiny.duckdb")
    store.ensure_schema(NOW)
    with store.write() as con:
        stored.insert(con, "reps", [{"id": i, "name": n, "title": "rep", "active": True, "monthly_quota": 0.0}
                              for i, n in ((1, "Ann"), (2, "Bob"))])
        stored.insert(con, "leads", [{"id": i, "merchant_name": f"M{i}", "submitted_at": D("2026-04-20 09:00"),
                                "owner_id": 1 if i < 3 else 2, "status": "opportunity"} for i in (1, 2, 3)])
        stored.insert(con, "opportunities", [
            {"id": 1, "lead_id": 1, "owner_id": 1, "amount": 1000.0, "stage": "closed_lost",
             "created_at": D("2026-05-01 10:00"), "closed_at": D("2026-06-10 10:00"), "won": False,
             "expected_close": date(2026, 6, 8), "contacts": 1},
            {"id": 2, "lead_id": 2, "owner_id": 1, "amount": 2000.0, "stage": "proposal",
             "created_at": D("2026-06-20 10:00"), "expected_close": date(2026, 7, 30), "contacts": 3},
            {"id": 3, "lead_id": 3, "owner_id": 2, "amount": 3000.0, "stage": "negotiation",
             "created_at": D("2026-06-01 10:00"), "expected_close": date(2026, 7, 15)}])
        moves = [(1, None, "discovery", "2026-05-01 10:00"), (1, "discovery", "proposal", "2026-05-10 10:00"),
                 (1, "proposal", "negotiation", "2026-05-20 10:00"), (1, "negotiation", "closed_lost", "2026-06-10 10:00"),
                 (2, None, "discovery", "2026-06-20 10:00"), (2, "discovery", "proposal", "2026-06-25 10:00")]
        stored.insert(con, "opportunity_changes",
                [{"opportunity_id": o, "field": "stage", "from_value": f, "to_value": t, "changed_at": D(at), "actor": "Ann"}
                 for o, f, t, at in moves]
                + [{"opportunity_id": 1, "field": "expected_close", "from_value": "2026-05-25",
                    "to_value": "2026-06-08", "changed_at": D("2026-05-24 09:00"), "actor": "Ann"}])
        stored.insert(con, "activities", [{"lead_id": 1, "rep_id": 1, "type": "call", "occurred_at": D(f"2026-05-{d} 11:00")}
                                    for d in ("02", "12", "21")])
        stored.insert(con, "emails", [{"id": 1, "lead_id": 2, "rep_id": 1, "token": "t1", "status": "sent", "attempts": 1,
                                 "queued_by": "ann",
                                 "queued_at": D("2026-06-26 09:00"), "sent_at": D("2026-06-26 09:00")}])
        stored.insert(con, "email_events", [{"email_id": 1, "kind": "open", "occurred_at": D("2026-06-27 09:00")}])
    return store


def _points(store: Store, **scope: Any) -> pl.DataFrame:
    params = {"now": NOW, "history_all": True, "history_reps": [], "open_all": True, "open_reps": [], **scope}
    return store.frame("deal_risk_points", **params)


def test_a_closed_deal_is_reviewed_weekly_while_open_with_its_stage_and_close_date_as_they_were(tiny: Store) -> None:
    history = _points(tiny).filter(pl.col("opportunity_id") == 1)
    assert history["as_of"].to_list() == [D(f"2026-{d} 12:00") for d in ("05-05", "05-12", "05-19", "05-26",
                                                                          "06-02", "06-09")]
    assert history["stage"].to_list() == ["discovery", "proposal", "proposal", "negotiation", "negotiation",
                                          "negotiation"]
    assert history["lost"].to_list() == [True] * 6
    may26 = history.row(3, named=True)
    assert may26["stage_since"] == D("2026-05-20 10:00")
    assert (may26["expected_close"], may26["close_pushes"], may26["activities_30d"]) == (date(2026, 6, 8), 1, 3)
    may5 = history.row(0, named=True)
    assert (may5["expected_close"], may5["close_pushes"]) == (date(2026, 5, 25), 0)
    assert may5["last_activity_at"] == D("2026-05-02 11:00")


def test_the_signs_at_a_review_come_from_what_was_known_then(tiny: Store) -> None:
    p75 = {s: {"p75": 8.0, "n": 20} for s in deal_risk.OPEN_STAGES}
    june9 = deal_risk.with_signs(_points(tiny), p75).filter(
        (pl.col("opportunity_id") == 1) & (pl.col("as_of") == D("2026-06-09 12:00"))).row(0, named=True)
    # in negotiation 20 days (usual 8), last activity May 21 (19 days), close June 8 already passed, one contact
    assert [june9[c] for c in deal_risk.SIGN_COLUMNS] == [True, True, True, True, True]


def test_an_open_deal_is_seen_now_in_its_current_stage_with_its_email_engagement(tiny: Store) -> None:
    now = _points(tiny).filter(pl.col("is_open")).sort("opportunity_id")
    assert now["opportunity_id"].to_list() == [2, 3]
    two, three = now.row(0, named=True), now.row(1, named=True)
    assert (two["stage"], two["stage_since"], two["email_engagements_30d"]) == ("proposal", D("2026-06-25 10:00"), 1)
    assert two["lost"] is None
    # no recorded history: in its current stage since it was created
    assert (three["stage"], three["stage_since"], three["last_activity_at"]) == ("negotiation", D("2026-06-01 10:00"),
                                                                                 None)


def test_history_and_open_deals_each_keep_to_their_own_scope(tiny: Store) -> None:
    only_ann = _points(tiny, open_all=False, open_reps=[1], history_all=False, history_reps=[2])
    assert only_ann.filter(pl.col("is_open"))["opportunity_id"].to_list() == [2]
    assert only_ann.filter(~pl.col("is_open")).is_empty()


def test_completed_stage_spells_end_at_the_next_move_or_the_close(tiny: Store) -> None:
    spells = tiny.frame("deal_risk_spells", now=NOW, history_all=True, history_reps=[]).sort("entered_at")
    assert spells.select("opportunity_id", "stage").rows() == [(1, "discovery"), (1, "proposal"), (1, "negotiation"),
                                                               (2, "discovery")]
    assert spells["left_at"].to_list() == [D("2026-05-10 10:00"), D("2026-05-20 10:00"), D("2026-06-10 10:00"),
                                           D("2026-06-25 10:00")]


def test_with_too_little_history_the_refresh_falls_back_to_the_rule_and_says_why(tiny: Store) -> None:
    out = deal_risk.refresh_deal_risk(tiny, NOW)
    assert out["deals"] == 2 and out["model_used"] is False
    stored = deal_risk.latest(tiny, ADMIN)
    assert stored["run"]["why"].startswith("Not enough data") and stored["computed_at"] == NOW
    assert set(stored["deals"]["opportunity_id"]) == {2, 3}
    ann = Actor("ann", "Ann", "rep", rep_id=1, scope_reps=(1,))
    assert deal_risk.latest(tiny, ann)["deals"]["opportunity_id"].to_list() == [2]
    three = stored["deals"].filter(pl.col("opportunity_id") == 3).row(0, named=True)
    assert "no activity logged on the lead yet" in three["reasons"]


# ---------------------------------------------------------------- the XS demo


@pytest.fixture(scope="module")
def assessed(demo_store: Store) -> pl.DataFrame:
    return deal_risk.assess(demo_store, ADMIN, NOW)


def test_every_open_deal_on_the_demo_gets_a_score_a_level_and_its_reasons(demo_store: Store,
                                                                          assessed: pl.DataFrame) -> None:
    with demo_store.read() as con:
        open_ids = {r[0] for r in con.execute("SELECT id FROM opportunities WHERE closed_at IS NULL").fetchall()}
    assert set(assessed["opportunity_id"]) == open_ids and assessed.height == len(open_ids)
    assert assessed["score"].is_between(0, 1).all() and set(assessed["level"]) <= {"low", "medium", "high"}
    assert (assessed["reasons"].list.len() == assessed["signs"]).all()
    assert (assessed["scored_by"] == "model").all()
    assert assessed["score"].to_list() == sorted(assessed["score"].to_list(), reverse=True)


def test_a_rep_assesses_only_their_own_deals_with_the_scores_everyone_sees(demo_store: Store,
                                                                            assessed: pl.DataFrame) -> None:
    rep = resolve_actor(demo_store, "rep")
    mine = deal_risk.assess(demo_store, rep, NOW)
    assert set(mine["owner_id"]) <= {rep.rep_id}
    assert mine.select("opportunity_id", "score").sort("opportunity_id").equals(
        assessed.filter(pl.col("owner_id") == rep.rep_id).select("opportunity_id", "score").sort("opportunity_id"))


def test_the_refresh_replaces_the_risks_whole_and_records_its_out_of_time_evaluation(demo_copy: Store) -> None:
    first = deal_risk.refresh_deal_risk(demo_copy, NOW)
    later = datetime(2026, 6, 30, 13, 0)
    second = deal_risk.refresh_deal_risk(demo_copy, later)
    assert first["deals"] == second["deals"] > 0
    with demo_copy.read() as con:
        rows, runs = con.execute("SELECT (SELECT count(*) FROM deal_risks), (SELECT count(*) FROM analytics_runs "
                                 "WHERE kind = 'deal_risk')").fetchone()
    assert (rows, runs) == (second["deals"], 2)
    stored = deal_risk.latest(demo_copy, ADMIN)
    run = stored["run"]
    assert stored["computed_at"] == later and (stored["deals"]["computed_at"] == later).all()
    # judged out of time against the base rate: the demo's signs carry information
    assert run["used"] and run["auc_ci"][0] > 0.5 and run["brier"] < run["brier_base"]
    assert run["cutoff"] > run["train_from"] and run["test_deals"] >= deal_risk.MIN_TEST_DEALS
    assert sum(b["n"] for b in run["calibration"]) == run["test_reviews"]
    assert stored["deals"]["reasons"].dtype == pl.List(pl.String)
    raw = demo_copy.frame("deal_risk_latest_run")["payload"][0]
    assert json.loads(raw)["levels"] == second["levels"]


def test_checked_against_history_single_contact_deals_are_lost_more_often_on_the_demo(demo_store: Store) -> None:
    check = deal_risk.check_against_history(demo_store, ADMIN, NOW)
    assert check["sign"].to_list() == [s.label for s in deal_risk.SIGNS]
    single = check.filter(pl.col("sign") == "single contact").row(0, named=True)
    assert single["verdict"] == "associated with more losses" and single["ci_low"] > 1
    assert single["loss_rate_with"] > single["loss_rate_without"]
    assert "associated with more later losses" in single["wording"] and "n = " in single["wording"]
    estimated = check.filter(pl.col("odds_ratio").is_not_null())
    assert ((estimated["ci_low"] < estimated["odds_ratio"]) & (estimated["odds_ratio"] < estimated["ci_high"])).all()
    assert "cause" not in " ".join(check["wording"]).lower()


def test_a_rep_checks_the_signs_against_their_own_history_only(demo_store: Store) -> None:
    rep = resolve_actor(demo_store, "rep")
    with demo_store.read() as con:
        closed, long = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE closed_at - created_at > INTERVAL 7 DAY) FROM opportunities "
            "WHERE owner_id = ? AND closed_at IS NOT NULL", [rep.rep_id]).fetchone()
    check = deal_risk.check_against_history(demo_store, rep, NOW)
    # every deal open for over a week met a weekly review; a shorter one only if a review fell inside it
    assert 0 < long <= check["deals"][0] <= closed
