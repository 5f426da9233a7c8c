"""The scoring engine on a real store: per-vertical models, the blend with the rules, real-time rescoring in
the caller's transaction, breakdowns in scope, the rule editor and the settings, and `scoring evaluate`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash import predictive, scoring
from flashdash.__main__ import main
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.filters import Filters
from flashdash.scoring import ScoringError
from flashdash.store import Store, copy_file
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada Admin", "admin")
EVERYTHING = Filters(start=NOW.date() - timedelta(days=3650), end=NOW.date())
SMALL = {"scoring.min_vertical_leads": 100, "scoring.min_vertical_wins": 10}  # XS has ~200 leads a vertical


def sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    with store.write() as con:
        return con.execute(query, params or []).fetchall()


@pytest.fixture(scope="module")
def trained(demo_store: Store, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the XS demo store trained with vertical minimums its verticals can meet."""
    root = tmp_path_factory.mktemp("scoring")
    copy_file(demo_store.path, root / "store.duckdb")
    store = Store(root / "store.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_MODELS", str(root / "models"))
        scoring.save_settings(store, ADMIN, SMALL, NOW)
        summary = scoring.train_all(store, NOW)
        yield store, summary


# 5,400 leads every 3 hours from July 2024, one in six a bakery; hot retail leads win (40% against 5%), and
# bakeries the other way round. The global model follows retail, so it ranks bakeries backwards.
TWO_VERTICALS = """
INSERT INTO leads (id, merchant_name, vertical, channel, interest_level, submitted_at, status, status_changed_at)
SELECT nextval('leads_id_seq'), 'Merchant ' || i, vertical, 'organic_search', interest, t,
       CASE WHEN t >= TIMESTAMP '2026-04-01' THEN 'new' WHEN won THEN 'won' ELSE 'lost' END,
       CASE WHEN t < TIMESTAMP '2026-04-01' THEN t + INTERVAL 20 DAY END
FROM (SELECT *, hash(i * 7 + 1) % 100 < CASE WHEN (interest = 'hot') <> (vertical = 'bakery') THEN 40 ELSE 5 END
                AS won
      FROM (SELECT i, TIMESTAMP '2024-07-01' + i * INTERVAL 3 HOUR AS t,
                   CASE WHEN i % 6 = 0 THEN 'bakery' ELSE 'retail' END AS vertical,
                   CASE WHEN hash(i) % 10 < 4 THEN 'hot' ELSE 'cold' END AS interest
            FROM range(5400) r(i)))
"""


@pytest.fixture(scope="module")
def two_verticals(tmp_path_factory: pytest.TempPathFactory):
    """A store of generated leads in two verticals that win for opposite reasons, trained."""
    root = tmp_path_factory.mktemp("two-verticals")
    store = Store(root / "store.duckdb")
    store.ensure_schema(NOW)
    sql(store, TWO_VERTICALS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_MODELS", str(root / "models"))
        scoring.save_settings(store, ADMIN, {"scoring.min_vertical_leads": 500, "scoring.min_vertical_wins": 50},
                              NOW)
        summary = scoring.train_all(store, NOW)
        yield store, summary


@pytest.fixture
def store(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A copy of the trained store the test may change (its cards name the trained model files)."""
    copy_file(trained[0].path, tmp_path / "store.duckdb")
    monkeypatch.setenv("FLASHDASH_MODELS", str(tmp_path / "models"))
    return Store(tmp_path / "store.duckdb")


def open_ids(store: Store) -> set[int]:
    return {i for (i,) in sql(store, "SELECT id FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity')")}


def stored(store: Store) -> pl.DataFrame:
    with store.read() as con:
        return con.sql("SELECT * FROM lead_scores ORDER BY lead_id").pl()


def score_and_store(store: Store) -> pl.DataFrame:
    rows = scoring.score_all(store, NOW)
    with store.write() as con:
        scoring.store_scores(store, con, rows)
    return rows


def factor_sum(text: str) -> float:
    return sum(f["points"] for f in json.loads(text))


def an_open_lead(store: Store, where: str = "TRUE") -> int:
    (lead_id,) = sql(store, f"SELECT min(id) FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity') "
                            f"AND {where}")[0]
    return lead_id


# ---------------------------------------------------------------- models


def test_training_saves_a_card_per_vertical_saying_whether_it_is_used_and_why(trained):
    store, summary = trained
    assert summary["status"] == "ok" and summary["horizon_days"] == 90 and summary["beats_baseline"]
    assert summary["vertical_minimums"] == {"leads": 100, "wins": 10}
    status = predictive.model_status(store)
    cards = {c["vertical"]: c for c in status["verticals"]}
    assert {v["vertical"] for v in summary["verticals"]} == set(cards) and "(none)" not in cards
    assert all(c["global_card_id"] == status["card"]["id"] == summary["card_id"] for c in cards.values())
    for card in cards.values():
        assert card["reason"].startswith("used: " if card["used"] else "not used: ")
        assert (card["status"] == "ok") == ("artifact" in card)  # a fitted model has its own file
    assert any(c["reason"].endswith("training leads (a vertical model needs 100)") for c in cards.values())
    judged = [c for c in cards.values() if c["status"] == "ok"]
    assert judged and all(c["test"]["start"] >= status["card"]["test"]["start"] for c in judged)


def test_a_vertical_that_wins_for_its_own_reasons_gets_a_model_that_scores_it(two_verticals):
    store, summary = two_verticals
    assert summary["used_verticals"] == ["bakery"]
    status = predictive.model_status(store)
    bakery, retail = status["verticals"]
    assert bakery["model"] == "conversion:vertical=bakery" and bakery["used"] and not retail["used"]
    assert bakery["metrics"]["auc"] > bakery["global_metrics"]["auc"] + 0.01
    assert "does not beat the global model" in retail["reason"]
    assert Path(bakery["artifact"]["file"]).is_file()
    assert Path(bakery["artifact"]["file"]) != Path(status["card"]["artifact"]["file"])
    rows = scoring.score_all(store, NOW)
    verticals = dict(sql(store, "SELECT id, vertical FROM leads"))
    keys = {verticals[r["lead_id"]]: r["model_key"] for r in rows.iter_rows(named=True)}
    assert keys == {"bakery": "vertical:bakery", "retail": "global"}
    assert set(rows["card_id"]) == {status["card"]["id"]}  # the run's card: freshness compares it


def test_a_later_global_model_retires_the_vertical_models_trained_before_it(store):
    card = predictive.train(store, NOW)  # what `python -m flashdash train` does: everything again
    assert predictive.model_status(store)["verticals"][0]["global_card_id"] == card["id"]
    predictive.save(store, {**card, "verticals": []}, None)  # a global card written on its own
    assert predictive.model_status(store)["verticals"] == []


def test_the_horizon_setting_changes_the_label_at_the_next_training(store):
    scoring.save_settings(store, ADMIN, {"scoring.horizon_days": 120}, NOW)
    summary = scoring.train_all(store, NOW)
    assert summary["horizon_days"] == 120
    assert summary["labelled"]["end"] <= (NOW - timedelta(days=120)).isoformat()


# ---------------------------------------------------------------- scoring every open lead


def test_every_open_lead_gets_a_blended_score_that_its_factors_sum_to(store):
    rows = scoring.score_all(store, NOW)
    assert set(rows["lead_id"]) == open_ids(store) and rows.columns == list(predictive.STORED_COLUMNS)
    assert rows["score"].is_between(0, 100).all() and rows["rule_points"].is_between(0, 100).all()
    for row in rows.iter_rows(named=True):
        assert factor_sum(row["factors"]) == pytest.approx(row["score"], abs=1e-9)
        assert 0.3 * row["rule_points"] <= row["score"] <= 70 + 0.3 * row["rule_points"] + 1e-9
    assert (rows["scored_at"] == NOW).all() and rows["raises"].is_not_null().all()


def test_stored_scores_reach_the_page_with_their_score_and_model(store):
    rows = score_and_store(store).sort("lead_id")
    assert stored(store).select("lead_id", "score", "model_key").equals(rows.select("lead_id", "score", "model_key"))
    page = predictive.scores(store, ADMIN, EVERYTHING, NOW)
    assert {"score", "rule_points", "model_key"} <= set(page.columns)
    by_id = {r["id"]: r for r in page.iter_rows(named=True)}
    some = rows.row(0, named=True)
    assert by_id[some["lead_id"]]["score"] == some["score"] and by_id[some["lead_id"]]["scored_at"] == NOW


def test_a_teams_rules_count_for_the_leads_its_reps_own_only(store):
    (team_id,) = sql(store, "SELECT min(id) FROM teams")[0]
    scoring.save_rules(store, ADMIN, team_id, [{"label": "Team push", "field": "channel", "op": "is_set",
                                                "points": 30}], NOW)
    scoring.save_rules(store, ADMIN, None, [{"label": "Nothing", "field": "city", "op": "eq", "value": "Atlantis",
                                             "points": 10}], NOW)
    rows = scoring.score_all(store, NOW)
    teams = dict(sql(store, "SELECT l.id, r.team_id FROM leads l LEFT JOIN reps r ON r.id = l.owner_id"))
    points = {teams[r["lead_id"]] == team_id: r["rule_points"] for r in rows.iter_rows(named=True)}
    assert points == {True: 30.0, False: 0.0}
    assert "Team push" in rows.filter(pl.col("rule_points") == 30)["factors"][0]


# ---------------------------------------------------------------- real time


def test_rescoring_in_the_write_that_changed_the_lead_sees_the_change_and_commits_with_it(store):
    scoring.save_rules(store, ADMIN, None, [{"label": "Called", "field": "calls", "op": "gte", "value": 1,
                                             "points": 40}], NOW)
    score_and_store(store)
    lead_id = an_open_lead(store, "id NOT IN (SELECT lead_id FROM activities WHERE type = 'call')")
    before = stored(store).filter(pl.col("lead_id") == lead_id).row(0, named=True)
    later = NOW + timedelta(minutes=5)
    with store.write() as con:
        con.execute("INSERT INTO activities (id, lead_id, type, occurred_at) VALUES "
                    "(nextval('activities_id_seq'), ?, 'call', ?)", [lead_id, NOW])
        row = scoring.rescore_lead(store, con, lead_id, later)
    assert row["rule_points"] == before["rule_points"] + 40
    assert any(f["factor"] == "Called" for f in row["factors"]) and not row["removed"]
    after = stored(store).filter(pl.col("lead_id") == lead_id).row(0, named=True)
    assert (after["score"], after["scored_at"], after["rule_points"]) == (row["score"], later, row["rule_points"])
    assert factor_sum(after["factors"]) == pytest.approx(after["score"], abs=1e-9)
    assert stored(store).height == len(open_ids(store))  # one row replaced, none added


def test_rescoring_in_a_write_that_rolls_back_leaves_nothing(store):
    score_and_store(store)
    before = stored(store)
    lead_id = an_open_lead(store)
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("UPDATE leads SET interest_level = 'hot', budget_confirmed = true WHERE id = ?", [lead_id])
        scoring.rescore_leads(store, con, [lead_id], NOW + timedelta(hours=1))
        raise RuntimeError("the change that prompted the rescore failed")
    assert stored(store).equals(before)


def test_a_new_lead_is_scored_by_its_verticals_model_in_its_own_transaction(two_verticals, tmp_path):
    copy_file(two_verticals[0].path, tmp_path / "store.duckdb")
    store = Store(tmp_path / "store.duckdb")
    with store.write() as con:
        (lead_id,) = con.execute(
            "INSERT INTO leads (id, merchant_name, channel, interest_level, vertical, submitted_at, status) VALUES "
            "(nextval('leads_id_seq'), 'New Bakery', 'organic_search', 'cold', 'bakery', ?, 'new') RETURNING id",
            [NOW]).fetchone()
        row = scoring.rescore_lead(store, con, lead_id, NOW)
        con.execute("UPDATE leads SET interest_level = 'hot' WHERE id = ?", [lead_id])
        hot = scoring.rescore_lead(store, con, lead_id, NOW)
    assert row["model_key"] == hot["model_key"] == "vertical:bakery"
    assert hot["probability"] < row["probability"]  # the bakery model knows hot bakeries rarely buy
    assert stored(store).filter(pl.col("lead_id") == lead_id)["score"].to_list() == [hot["score"]]


def test_a_lead_that_left_the_open_stages_loses_its_score(store):
    score_and_store(store)
    lead_id = an_open_lead(store)
    with store.write() as con:
        con.execute("UPDATE leads SET status = 'lost' WHERE id = ?", [lead_id])
        assert scoring.rescore_lead(store, con, lead_id, NOW) == {"lead_id": lead_id, "score": None, "removed": True}
    assert lead_id not in set(stored(store)["lead_id"])


def test_rescoring_an_unknown_lead_is_refused_and_nothing_is_written(store):
    with pytest.raises(ScoringError, match="There is no lead 999999"), store.write() as con:
        scoring.rescore_leads(store, con, [999_999], NOW)
    assert stored(store).is_empty()
    with store.write() as con:
        assert scoring.rescore_leads(store, con, [], NOW).is_empty()


# ---------------------------------------------------------------- breakdown


def test_a_breakdown_sums_to_the_score_and_is_stored_once_scored(store):
    lead_id = an_open_lead(store)
    live = scoring.breakdown(store, ADMIN, lead_id, NOW)
    assert live["live"] and live["scored_at"] == NOW
    frame = live["factors"]
    assert frame.columns == ["factor", "points", "start", "end", "kind"]
    assert frame["end"][-1] == pytest.approx(live["score"], abs=1e-9) and frame["kind"][0] == "base"
    assert frame["start"][1:].to_list() == pytest.approx(frame["end"][:-1].to_list())
    score_and_store(store)
    kept = scoring.breakdown(store, ADMIN, lead_id, NOW + timedelta(days=1))
    assert not kept["live"] and kept["scored_at"] == NOW and kept["score"] == pytest.approx(live["score"])
    assert "global conversion model" in kept["note"] or "restaurants model" in kept["note"]


def test_a_breakdown_outside_the_actors_book_is_refused(store):
    rep = resolve_actor(store, "rep")
    mine = an_open_lead(store, f"owner_id = {rep.rep_id}")
    theirs = an_open_lead(store, f"owner_id <> {rep.rep_id}")
    assert scoring.breakdown(store, rep, mine, NOW)["lead_id"] == mine
    with pytest.raises(AccessDenied, match="not in your book"):
        scoring.breakdown(store, rep, theirs, NOW)
    with pytest.raises(ScoringError, match="There is no lead 999999"):
        scoring.breakdown(store, rep, 999_999, NOW)
    assert scoring.breakdown(store, Actor("a", "Ann", "analyst"), theirs, NOW)["lead_id"] == theirs


def test_without_a_usable_model_the_score_is_the_rules_alone_and_says_so(olist_sample_store: Store):
    rows = scoring.score_all(olist_sample_store, NOW)  # 400 leads: too few for a model
    assert rows.height == 300 and rows["model_key"].is_null().all()
    assert rows["score"].to_list() == rows["rule_points"].to_list()
    assert set(rows["scored_by"]) == {"baseline rule"} and rows["probability"].is_not_null().all()
    lead_id = rows["lead_id"][0]
    out = scoring.breakdown(olist_sample_store, ADMIN, lead_id, NOW)
    assert "lacks data" in out["note"] and "the rules' points alone" in out["note"]
    assert set(out["factors"]["kind"]) <= {"rule", "cap"}


# ---------------------------------------------------------------- rules and settings


def test_the_editor_shows_the_starter_rules_until_an_admin_saves_the_store_wide_set(store):
    shown = scoring.rules(store, ADMIN, None)
    assert set(shown["source"]) == {"starter"} and shown.height == len(scoring.STARTER_RULES)
    saved = scoring.save_rules(store, ADMIN, None, shown.head(2).select("label", "field", "op", "value", "points"),
                               NOW)
    assert set(saved["source"]) == {"stored"} and saved["label"].to_list() == shown["label"].head(2).to_list()
    assert set(saved["updated_by"]) == {"admin"}
    ((action, entity, after),) = sql(store, "SELECT action, entity, after FROM audit_log WHERE entity = 'score_rules'")
    assert (action, entity) == ("create", "score_rules") and len(json.loads(after)["rules"]) == 2
    assert len(scoring.rules_in_force(store)) == 2


def test_a_manager_saves_their_own_teams_rules_and_no_one_elses(store):
    manager = resolve_actor(store, "manager")
    own = {t for (t,) in sql(store, "SELECT id FROM teams WHERE manager_id = ?", [manager.rep_id])}
    (other,) = sql(store, "SELECT min(id) FROM teams WHERE manager_id IS DISTINCT FROM ?", [manager.rep_id])[0]
    team = min(own)
    rows = [{"label": "Demo booked", "field": "demos", "op": "gte", "value": "1", "points": 15}]
    saved = scoring.save_rules(store, manager, team, rows, NOW)
    assert saved.select("team_id", "label", "points").rows() == [(team, "Demo booked", 15.0)]
    with pytest.raises(AccessDenied, match="only their own team.s score rules"):
        scoring.save_rules(store, manager, other, rows, NOW)
    with pytest.raises(AccessDenied, match="Only an admin"):
        scoring.save_rules(store, manager, None, rows, NOW)
    for role in ("rep", "analyst", "executive"):
        with pytest.raises(AccessDenied):
            scoring.save_rules(store, Actor(role, role, role, rep_id=manager.rep_id), team, rows, NOW)
    with pytest.raises(AccessDenied, match="own team only"):
        scoring.rules(store, manager, other)
    assert scoring.rules(store, ADMIN, team).height == 1 and scoring.rules(store, ADMIN, other).is_empty()


def test_invalid_rules_are_refused_whole_and_nothing_is_written(store):
    scoring.save_rules(store, ADMIN, None, [{"label": "Hot", "field": "interest_level", "op": "eq", "value": "hot",
                                             "points": 20}], NOW)
    with pytest.raises(ScoringError) as err:
        scoring.save_rules(store, ADMIN, None, [
            {"label": "ok", "field": "channel", "op": "eq", "value": "referral", "points": 10},
            {"label": "bad", "field": "channel", "op": "gte", "value": "referral", "points": 10}], NOW)
    assert "row 2: channel takes the operators" in str(err.value)
    with pytest.raises(ScoringError, match="there is no team 999"):
        scoring.save_rules(store, ADMIN, 999, [], NOW)
    assert scoring.rules(store, ADMIN, None)["label"].to_list() == ["Hot"]


def test_settings_are_for_admins_validated_audited_and_the_weight_moves_every_score(store):
    with pytest.raises(AccessDenied):
        scoring.save_settings(store, resolve_actor(store, "manager"), {"scoring.model_weight": 0.5}, NOW)
    with pytest.raises(ScoringError) as err:
        scoring.save_settings(store, ADMIN, {"scoring.model_weight": 2, "scoring.horizon": 90}, NOW)
    assert "between 0 and 1" in str(err.value) and "there is no setting 'scoring.horizon'" in str(err.value)
    assert scoring.settings(store)["scoring.model_weight"] == 0.7
    after = scoring.save_settings(store, ADMIN, {"scoring.model_weight": "0"}, NOW)
    assert after["scoring.model_weight"] == 0.0 and after["scoring.min_vertical_leads"] == 100
    ((before_json, after_json),) = sql(store, "SELECT before, after FROM audit_log WHERE entity = 'setting' "
                                              "AND after LIKE '%model_weight%'")
    assert json.loads(before_json) == {"scoring.model_weight": 0.7} and json.loads(after_json) == {
        "scoring.model_weight": 0.0}
    rows = scoring.score_all(store, NOW)
    assert rows["score"].to_list() == rows["rule_points"].to_list()
    assert scoring.settings_frame(store).filter(pl.col("key") == "scoring.model_weight")["value"][0] == 0.0


# ---------------------------------------------------------------- evaluate


def test_evaluate_trains_in_memory_and_leaves_the_saved_models_alone(store):
    (cards_before,) = sql(store, "SELECT count(*) FROM model_cards")[0]
    result = scoring.evaluate(store, NOW)
    assert sql(store, "SELECT count(*) FROM model_cards")[0][0] == cards_before
    saved = predictive.latest_card(store)
    assert result["auc"] == pytest.approx(saved["metrics"]["auc"])
    assert result["verticals"] == saved["verticals"]


def _evaluate(store: Store, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())
    assert main(["scoring", "evaluate", "--db", str(store.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split(" ")[0] if not line.startswith(("Baseline", "Vertical")) else line: line for line in lines}


def test_the_cli_prints_one_figure_per_line_for_the_demo_store(store, capsys, monkeypatch):
    lines = _evaluate(store, capsys, monkeypatch)
    assert lines["Status"] == "Status ok" and lines["Horizon"] == "Horizon 90 days"
    assert float(lines["AUC"].split()[1]) > 0.7 and lines["Brier"].startswith("Brier 0.")
    assert lines["ECE"].startswith("ECE 0.") and any(k.startswith("Baseline AUC 0.") for k in lines)
    assert lines["Train"].startswith("Train ") and " leads 20" in lines["Train"] and lines["Test"].startswith("Test ")
    verticals = [line for line in lines if line.startswith("Vertical ") and ":" in line]
    assert len(verticals) >= 10 and all(": used: " in v or ": not used: " in v for v in verticals)
    assert "Vertical minimums 100 training leads, 10 wins" in lines


def test_the_cli_names_the_vertical_model_it_would_use(two_verticals, capsys, monkeypatch):
    lines = "\n".join(_evaluate(two_verticals[0], capsys, monkeypatch))
    assert "Vertical bakery: used: AUC" in lines and "Vertical retail: not used" in lines


def test_the_cli_on_the_olist_sample_says_it_is_too_small_and_exits_0(olist_sample_store, capsys, monkeypatch):
    lines = _evaluate(olist_sample_store, capsys, monkeypatch)
    assert lines["Status"].startswith("Status insufficient_data: only 400 leads")
    assert "AUC" not in lines and "Vertical models none: no labelled lead records a vertical" in lines


def test_the_full_olist_funnel_reaches_auc_0_70_and_ece_0_05_out_of_time(olist_full_store, capsys, monkeypatch):
    lines = _evaluate(olist_full_store, capsys, monkeypatch)
    auc, ece = float(lines["AUC"].split()[1]), float(lines["ECE"].split()[1])
    assert lines["Train"].startswith("Train 6000 leads 2017-06-14..") and lines["Test"].startswith("Test 2000 leads")
    assert auc >= 0.70 and ece <= 0.05
    print(f"Olist out-of-time AUC {auc:.3f}, ECE {ece:.3f}, {lines['Brier']}")
