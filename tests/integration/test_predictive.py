import json
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from flashdash import demo, predictive
from flashdash.access import Actor
from flashdash.filters import Filters
from flashdash.store import Store

NOW = datetime(2026, 6, 30)
EVERYTHING = Filters(start=date(2024, 1, 1), end=NOW.date())
OPEN = set(predictive.OPEN_STATUSES)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An XS demo store with a trained conversion model; FLASHDASH_MODELS points into the test's directory."""
    root = tmp_path_factory.mktemp("predictive")
    store = Store(root / "s.duckdb")
    demo.generate(store, "XS", seed=1, now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_MODELS", str(root / "models"))
        card = predictive.train(store, NOW)
        yield store, card


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHDASH_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def _rep_with_most_open_leads(store: Store) -> int:
    with store.read() as con:
        (rep_id,) = con.execute(
            "SELECT owner_id FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity') AND owner_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    return rep_id


def test_the_model_is_trained_out_of_time_and_ranks_better_than_chance(trained):
    _, card = trained
    assert card["status"] == "ok", card.get("reason")
    assert card["train"]["end"] < card["test"]["start"]
    assert card["train"]["n"] + card["test"]["n"] == card["labelled"]["n"]
    assert 0.5 < card["metrics"]["auc"] <= 1.0
    assert card["horizon_days"] == predictive.DEFAULT_HORIZON == 90
    assert card["labelled"]["end"] <= (NOW - timedelta(days=90)).isoformat()  # only leads old enough to know


def test_the_model_beats_its_baseline_on_data_built_to_be_predictable(trained):
    _, card = trained
    assert card["beats_baseline"] is True
    assert card["metrics"]["auc"] > card["baseline_metrics"]["auc"] + 0.01
    assert sum(b["count"] for b in card["calibration"]["model"]) == card["test"]["n"]
    assert [d["decile"] for d in card["lift"]["model"]] == list(range(1, 11))
    assert card["lift"]["model"][0]["lift"] > 1.5  # the top tenth wins well above the average


def test_the_card_is_stored_and_the_model_saved_beside_it(trained):
    store, card = trained
    stored = predictive.latest_card(store)
    assert stored["trained_at"] == card["trained_at"] and stored["metrics"] == card["metrics"]
    assert predictive.model_path().exists()
    assert json.loads(predictive.card_path().read_text())["artifact"] == card["artifact"]
    assert predictive.model_status(store)["fallback"] is None


def test_labels_count_only_wins_within_the_horizon(trained):
    store, _ = trained
    frame = predictive.training_frame(store, NOW, 120)
    with store.read() as con:
        (expected,) = con.execute(
            "SELECT count(*) FROM leads l WHERE l.submitted_at <= ? AND EXISTS ("
            " SELECT 1 FROM lead_stage_changes s WHERE s.lead_id = l.id AND s.to_status = 'won'"
            " AND s.changed_at <= l.submitted_at + INTERVAL 120 DAY)", [NOW - timedelta(days=120)]).fetchone()
    assert 30 < frame["label"].sum() == expected


def test_activity_features_count_only_the_first_week(trained):
    store, _ = trained
    frame = predictive.training_frame(store, NOW, 120)
    with store.read() as con:
        hand = pl.DataFrame(con.execute(
            "SELECT l.id, count(a.id) FILTER (WHERE a.type = 'call' AND a.occurred_at >= l.submitted_at"
            " AND a.occurred_at < l.submitted_at + INTERVAL 7 DAY)::DOUBLE AS calls,"
            " count(a.id) FILTER (WHERE a.type = 'call')::DOUBLE AS all_calls"
            " FROM leads l LEFT JOIN activities a ON a.lead_id = l.id GROUP BY 1").fetchall(),
            schema=["id", "calls", "all_calls"], orient="row")
    joined = frame.join(hand, on="id")
    assert (joined["calls_7d"] == joined["calls"]).all()
    assert (joined["all_calls"] > joined["calls_7d"]).any()  # later calls exist and are left out


def test_training_is_reproducible(trained):
    store, card = trained
    again, _ = predictive.fit(predictive.training_frame(store, NOW, 90), NOW, 90)
    assert again["metrics"] == card["metrics"] and again["importance"] == card["importance"]


def test_open_leads_are_scored_by_the_model_with_their_factors(trained):
    store, _ = trained
    out = predictive.scores(store, Actor("admin", "Admin", "admin"), EVERYTHING)
    assert out.height > 0 and set(out["status"]) <= OPEN
    assert set(out["scored_by"]) == {"model"}
    assert out["probability"].is_between(0, 1).all()
    assert set(out["band"]) <= {"high", "medium", "low"}
    assert (out["raises"].str.contains("odds") | out["lowers"].str.contains("odds")).all()
    assert out["probability"].is_sorted(descending=True)


def test_a_rep_sees_only_their_own_open_leads(trained):
    store, _ = trained
    rep_id = _rep_with_most_open_leads(store)
    rep = Actor(username="x", name="x", role="rep", rep_id=rep_id, scope_reps=(rep_id,))
    mine = predictive.scores(store, rep, EVERYTHING)
    everyone = predictive.scores(store, Actor("admin", "Admin", "admin"), EVERYTHING)
    with store.read() as con:
        owned = {i for (i,) in con.execute("SELECT id FROM leads WHERE owner_id = ?", [rep_id]).fetchall()}
    assert 0 < mine.height < everyone.height
    assert set(mine["id"]) <= owned


def test_filters_narrow_the_scored_leads_to_the_period(trained):
    store, _ = trained
    recent = Filters(start=date(2026, 6, 1), end=NOW.date())
    out = predictive.scores(store, Actor("admin", "Admin", "admin"), recent)
    assert out.height > 0 and out["submitted_at"].min() >= datetime(2026, 6, 1)


def test_an_analyst_sees_masked_contacts_and_an_admin_sees_them(trained):
    store, _ = trained
    analyst = predictive.scores(store, Actor("a", "Ann", "analyst"), EVERYTHING)
    admin = predictive.scores(store, Actor("admin", "Admin", "admin"), EVERYTHING)
    assert set(analyst["email"].drop_nulls()) == {"•••"}
    assert set(analyst["contact_name"].drop_nulls()) == {"•••"}
    assert admin["email"].drop_nulls().str.contains("@").all()


def test_a_model_file_that_is_not_the_cards_is_never_used(trained):
    _, card = trained
    pipe, reason = predictive.usable_model({**card, "artifact": {"sha256": "0" * 64}})
    assert pipe is None and "not the model of the latest card" in reason


def _small_store(path, keep: int) -> Store:
    store = Store(path)
    demo.generate(store, "XS", seed=1, now=NOW)
    with store.write() as con:
        con.execute("DELETE FROM leads WHERE id > ?", [keep])
    return store


def test_too_few_leads_yield_an_insufficient_data_card_and_baseline_scores(tmp_path, models):
    store = _small_store(tmp_path / "small.duckdb", keep=300)
    card = predictive.train(store, NOW)
    assert card["status"] == "insufficient_data" and "old enough to be labelled" in card["reason"]
    assert "metrics" not in card and not predictive.model_path().exists()
    assert predictive.latest_card(store)["status"] == "insufficient_data"
    assert "lacks data" in predictive.model_status(store)["fallback"]
    out = predictive.scores(store, Actor("admin", "Admin", "admin"), EVERYTHING)
    assert out.height > 0 and set(out["scored_by"]) == {"baseline rule"}
    assert out["raises"].str.contains("channel").any() or out["lowers"].str.contains("channel").any()
    assert "AUC" not in predictive.card_text(card)


def test_an_untrained_store_scores_with_the_baseline_rule(tmp_path, models):
    store = Store(tmp_path / "s.duckdb")
    demo.generate(store, "XS", seed=2, now=NOW)
    status = predictive.model_status(store)
    assert status["card"] is None and "No conversion model" in status["fallback"]
    out = predictive.scores(store, Actor("admin", "Admin", "admin"), EVERYTHING, now=NOW)
    assert set(out["scored_by"]) == {"baseline rule"}
    assert out["probability"].n_unique() <= out["channel"].n_unique()  # one rate per channel: nothing finer
