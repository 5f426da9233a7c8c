"""The demo generator against a real DuckDB file: sizes, determinism, the structure models must find, safety."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import crypto, demo
from flashdash.store import Store

NOW = datetime(2026, 5, 1, 12, 0)
SEED = 11
OLD = NOW - timedelta(days=90)  # leads this old have (nearly) finished their paths

# table -> the key that orders it
KEYS = {t: ["id"] for t in demo.DEMO_TABLES} | {"customer_usage": ["customer_id", "day"],
                                                "rep_territories": ["rep_id", "territory_id"]}


def _frame(store: Store, sql: str, *params: object) -> pl.DataFrame:
    """Rows as the product reads them: sealed contact values opened (each sealing differs, the values do not)."""
    with store.read() as con:
        return crypto.open_frame(con.sql(sql, params=list(params) or None).pl(), lambda: store.keyring)


def _one(store: Store, sql: str, *params: object) -> object:
    with store.read() as con:
        return con.execute(sql, list(params) or None).fetchone()[0]


def _table(store: Store, table: str) -> pl.DataFrame:
    return _frame(store, f'SELECT * FROM "{table}" ORDER BY {", ".join(KEYS[table])}')


def _snapshot(store: Store) -> dict[str, pl.DataFrame]:
    return {t: _table(store, t) for t in demo.DEMO_TABLES}


@pytest.fixture(scope="module")
def xs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict[str, int]]:
    store = Store(tmp_path_factory.mktemp("demo") / "s.duckdb")
    return store, demo.generate(store, "XS", seed=SEED, now=NOW)


@pytest.fixture(scope="module")
def store(xs: tuple[Store, dict[str, int]]) -> Store:
    return xs[0]


# ------------------------------------------------------------------ sizes


def test_the_returned_counts_are_the_rows_in_the_store(xs):
    store, counts = xs
    assert set(counts) == set(demo.DEMO_TABLES)
    for table, n in counts.items():
        assert _one(store, f'SELECT count(*) FROM "{table}"') == n, table


def test_xs_has_the_sizes_tests_rely_on(xs):
    _, counts = xs
    assert counts["regions"] == 5
    assert 10 <= counts["territories"] <= 20
    assert 35 <= counts["cities"] <= 60
    assert counts["teams"] == 2
    assert counts["reps"] == 8
    assert counts["leads"] == 2_000
    assert 15_000 <= counts["activities"] <= 25_000
    assert 250 <= counts["opportunities"] <= 550
    assert 140 <= counts["customers"] <= 260
    assert 20_000 <= counts["customer_usage"] <= 80_000


def test_every_region_has_two_to_four_territories_and_cities_have_real_coordinates(store):
    per_region = _frame(store, "SELECT region_id, count(*) AS n FROM territories GROUP BY 1")
    assert per_region.height == 5 and per_region["n"].is_between(2, 4).all()
    cities = _frame(store, "SELECT c.*, t.region_id AS territory_region FROM cities c JOIN territories t "
                           "ON t.id = c.territory_id")
    assert (cities["region_id"] == cities["territory_region"]).all()
    assert cities["lat"].is_between(24, 49).all() and cities["lon"].is_between(-125, -66).all()


def test_settings_record_how_the_demo_was_made(store):
    settings = dict(_frame(store, "SELECT key, value FROM settings").iter_rows())
    assert settings["demo_scale"] == "XS"
    assert settings["demo_seed"] == str(SEED)
    assert settings["demo_as_of"] == NOW.isoformat()


# ------------------------------------------------------------------ determinism


def test_the_same_seed_and_now_give_identical_tables(store, tmp_path):
    again = Store(tmp_path / "again.duckdb")
    shutil.copyfile(crypto.keyring_path(store.path), crypto.keyring_path(again.path))  # same keys, same indexes
    demo.generate(again, "XS", seed=SEED, now=NOW)
    for table in demo.DEMO_TABLES:
        assert_frame_equal(_table(store, table), _table(again, table))


def test_a_different_seed_gives_different_data(store, tmp_path):
    other = Store(tmp_path / "other.duckdb")
    demo.generate(other, "XS", seed=SEED + 1, now=NOW)
    for table in ("leads", "activities", "customer_usage"):
        assert not _table(store, table).equals(_table(other, table)), table


# ------------------------------------------------------------------ the org


def test_each_team_has_a_manager_who_manages_its_reps(store):
    reps = _frame(store, "SELECT * FROM reps")
    teams = _frame(store, "SELECT * FROM teams")
    managers = reps.filter(pl.col("title") == "manager")
    assert sorted(managers["id"]) == sorted(teams["manager_id"])
    sellers = reps.filter(pl.col("title") == "rep").join(
        teams.select(pl.col("id").alias("team_id"), pl.col("manager_id").alias("team_manager"),
                     pl.col("region_id").alias("team_region")), on="team_id")
    assert (sellers["manager_id"] == sellers["team_manager"]).all()
    assert (sellers["region_id"] == sellers["team_region"]).all()
    assert sellers["monthly_quota"].min() > 0
    assert sellers["verticals"].str.split(",").list.len().is_between(1, 3).all()
    assert reps["email"].str.contains(r"^[a-z]+\.[a-z]+@flashpay\.example$").all()
    assert 1 <= (~reps["active"]).sum() <= 2


def test_sellers_cover_territories_of_their_teams_region_with_a_cap_and_working_days(store):
    covered = _frame(store, """
        SELECT r.id, r.title, r.max_open_leads, r.working_days, count(rt.territory_id) AS territories,
               count(*) FILTER (WHERE t.region_id <> tm.region_id) AS outside
        FROM reps r JOIN teams tm ON tm.id = r.team_id
        LEFT JOIN rep_territories rt ON rt.rep_id = r.id LEFT JOIN territories t ON t.id = rt.territory_id
        GROUP BY ALL""")
    sellers = covered.filter(pl.col("title") != "manager")
    assert sellers["territories"].min() >= 1 and covered["outside"].sum() == 0
    assert sellers["max_open_leads"].min() > 0 and covered.filter(pl.col("title") == "manager")[
        "max_open_leads"].null_count() == covered.filter(pl.col("title") == "manager").height
    assert set(covered["working_days"]) <= {"mon,tue,wed,thu,fri", "tue,wed,thu,fri,sat"}


def test_leads_have_a_language_and_qualified_ones_mostly_a_confirmed_budget(store):
    by = _frame(store, """SELECT status IN ('sql', 'opportunity', 'won', 'lost') AS qualified,
                                 avg(budget_confirmed::INT) AS budget, count(DISTINCT language) AS languages,
                                 count(*) FILTER (WHERE assigned_at < submitted_at) AS assigned_early
                          FROM leads GROUP BY 1 ORDER BY 1""")
    assert by["budget"].to_list()[0] < 0.25 < 0.75 < by["budget"].to_list()[1]
    assert by["languages"].min() >= 3 and by["assigned_early"].sum() == 0


def test_departed_reps_keep_their_old_leads_but_get_no_new_ones(store):
    gone = _frame(store, "SELECT r.id, max(l.submitted_at) AS last_lead, count(l.id) AS leads FROM reps r "
                         "JOIN leads l ON l.owner_id = r.id WHERE NOT r.active GROUP BY r.id")
    assert gone.height >= 1 and gone["leads"].min() > 0
    assert gone["last_lead"].max() < NOW - timedelta(days=14)
    managers_own = _one(store, "SELECT count(*) FROM leads l JOIN reps r ON r.id = l.owner_id "
                               "WHERE r.title = 'manager'")
    assert managers_own == 0


# ------------------------------------------------------------------ the funnel: consistent and in time


def test_nothing_happens_after_now(store):
    latest = {
        "leads.submitted_at": "SELECT max(submitted_at) FROM leads",
        "leads.first_response_at": "SELECT max(first_response_at) FROM leads",
        "leads.status_changed_at": "SELECT max(status_changed_at) FROM leads",
        "lead_stage_changes": "SELECT max(changed_at) FROM lead_stage_changes",
        "activities": "SELECT max(occurred_at) FROM activities",
        "opportunities.created_at": "SELECT max(created_at) FROM opportunities",
        "opportunities.closed_at": "SELECT max(closed_at) FROM opportunities",
    }
    for what, sql in latest.items():
        assert _one(store, sql) <= NOW, what
    assert _one(store, "SELECT max(greatest(won_at, coalesce(churned_at, won_at))) FROM customers") <= NOW.date()
    assert _one(store, "SELECT min(submitted_at) FROM leads") >= NOW - timedelta(days=demo.HISTORY_DAYS)


def test_a_leads_status_is_its_last_stage_change(store):
    mismatched = _one(store, """
        WITH last AS (
            SELECT lead_id, arg_max(to_status, id) AS to_status, max(changed_at) AS changed_at
            FROM lead_stage_changes GROUP BY lead_id)
        SELECT count(*) FROM leads l LEFT JOIN last ON last.lead_id = l.id
        WHERE last.to_status IS DISTINCT FROM l.status OR last.changed_at IS DISTINCT FROM l.status_changed_at""")
    assert mismatched == 0


def test_stage_changes_follow_the_funnel_in_time_order(store):
    changes = _frame(store, """
        SELECT c.*, l.submitted_at,
               lag(to_status) OVER w AS previous, lag(changed_at) OVER w AS previous_at,
               row_number() OVER w AS step
        FROM lead_stage_changes c JOIN leads l ON l.id = c.lead_id
        WINDOW w AS (PARTITION BY lead_id ORDER BY c.id)""")
    first = changes.filter(pl.col("step") == 1)
    assert first.height == 2_000
    assert first["from_status"].is_null().all() and (first["to_status"] == "new").all()
    assert (first["changed_at"] == first["submitted_at"]).all()
    later = changes.filter(pl.col("step") > 1)
    assert (later["from_status"] == later["previous"]).all()
    assert (later["changed_at"] > later["previous_at"]).all()
    allowed = {("new", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "won"),
               ("opportunity", "lost"), ("new", "disqualified"), ("mql", "disqualified"),
               ("sql", "disqualified")}
    assert set(later.select("from_status", "to_status").unique().iter_rows()) <= allowed
    rule = later.filter(pl.col("actor") == "rule:auto-qualify")
    assert rule.height > 0 and (rule["to_status"] == "mql").all()


def test_recent_leads_are_still_open(store):
    recent = _frame(store, "SELECT status, count(*) AS n FROM leads WHERE submitted_at > ? GROUP BY 1",
                    NOW - timedelta(days=7))
    open_ = recent.filter(pl.col("status").is_in(["new", "mql", "sql", "opportunity"]))["n"].sum()
    assert open_ >= 0.5 * recent["n"].sum()


def test_opportunities_belong_to_leads_that_reached_opportunity(store):
    opps = _frame(store, """
        SELECT o.*, l.status, l.owner_id AS lead_owner, c.changed_at AS reached_at
        FROM opportunities o JOIN leads l ON l.id = o.lead_id
        LEFT JOIN lead_stage_changes c ON c.lead_id = o.lead_id AND c.to_status = 'opportunity'""")
    assert opps.height == _one(store, "SELECT count(*) FROM opportunities")
    assert opps["lead_id"].n_unique() == opps.height
    assert (opps["created_at"] == opps["reached_at"]).all()
    assert (opps["owner_id"] == opps["lead_owner"]).all()
    closed = opps.filter(pl.col("won").is_not_null()).with_columns(
        expected_stage=pl.when("won").then(pl.lit("closed_won")).otherwise(pl.lit("closed_lost")),
        expected_status=pl.when("won").then(pl.lit("won")).otherwise(pl.lit("lost")),
    )
    assert (closed["stage"] == closed["expected_stage"]).all()
    assert (closed["status"] == closed["expected_status"]).all()
    assert closed["closed_at"].is_not_null().all() and (closed["closed_at"] > closed["created_at"]).all()
    lost = closed.filter(~pl.col("won"))
    assert lost["loss_reason"].is_in(list(demo.LOSS_REASONS)).all()
    still_open = opps.filter(pl.col("won").is_null())
    assert still_open["stage"].is_in(["discovery", "proposal", "negotiation"]).all()
    assert (still_open["status"] == "opportunity").all()
    assert (opps["amount"] > 0).all()


def test_every_customer_has_a_won_opportunity(store):
    customers = _frame(store, """
        SELECT c.*, o.won, o.closed_at FROM customers c LEFT JOIN opportunities o ON o.lead_id = c.lead_id""")
    assert customers.height > 0
    assert customers["won"].fill_null(False).all()
    assert (customers["won_at"] == customers["closed_at"].dt.date()).all()
    assert _one(store, "SELECT count(*) FROM opportunities WHERE won") == customers.height


def test_usage_exists_only_while_a_merchant_is_a_customer(store):
    outside = _one(store, """
        SELECT count(*) FROM customer_usage u JOIN customers c ON c.id = u.customer_id
        WHERE u.day < c.won_at OR u.day >= c.churned_at OR u.day >= ?::DATE OR u.day < ?::DATE - 365""", NOW, NOW)
    assert outside == 0
    # an active customer won over a year ago has a row for every one of the last 365 days
    full_year = _frame(store, """
        SELECT count(*) AS days FROM customer_usage u JOIN customers c ON c.id = u.customer_id
        WHERE c.churned_at IS NULL AND c.won_at < ?::DATE - 365 GROUP BY c.id""", NOW)
    assert full_year.height > 0 and (full_year["days"] == 365).all()
    assert _one(store, "SELECT min(payment_count) FROM customer_usage") >= 0


def test_activities_fall_within_their_leads_life(store):
    outside = _one(store, """
        SELECT count(*) FROM activities a JOIN leads l ON l.id = a.lead_id
        WHERE a.occurred_at < l.submitted_at
           OR (l.status IN ('won', 'lost', 'disqualified') AND a.occurred_at > l.status_changed_at)
           OR a.occurred_at < l.first_response_at OR l.first_response_at IS NULL""")
    assert outside == 0
    acts = _frame(store, "SELECT type, outcome, duration_min FROM activities")
    assert set(acts["type"].unique()) == {"call", "email", "meeting", "demo"}
    calls = acts.filter(pl.col("type") == "call")
    assert calls["duration_min"].is_between(2, 30).all()
    meetings = acts.filter(pl.col("type").is_in(["meeting", "demo"]) & pl.col("duration_min").is_not_null())
    assert meetings["duration_min"].is_between(20, 60).all()
    assert acts.filter(pl.col("type") == "email")["duration_min"].is_null().all()


# ------------------------------------------------------------------ structure the models must find


def _win_rate_by(store: Store, column: str) -> dict[str, float]:
    rates = _frame(store, f"""
        SELECT {column} AS k, avg((status = 'won')::INTEGER) AS win FROM leads
        WHERE submitted_at < ? AND {column} IS NOT NULL GROUP BY 1""", OLD)
    return dict(rates.iter_rows())


def test_about_ten_percent_of_older_leads_end_won(store):
    rate = _one(store, "SELECT avg((status = 'won')::INTEGER) FROM leads WHERE submitted_at < ?", OLD)
    assert 0.07 <= rate <= 0.13


def test_hot_leads_win_far_more_than_warm_and_warm_more_than_cold(store):
    win = _win_rate_by(store, "interest_level")
    assert win["hot"] > 1.5 * win["warm"] and win["warm"] > 2 * win["cold"]


def test_referral_and_partner_leads_beat_display_and_social(store):
    win = _win_rate_by(store, "channel")
    assert min(win["referral"], win["partner"]) > max(win["display"], win["social"])


def test_a_faster_first_response_wins_more(store):
    win = _win_rate_by(store, "first_response_at - submitted_at < INTERVAL 2 HOUR")
    assert win[True] > 1.5 * win[False]


def test_won_opportunities_had_more_demos_and_meetings(store):
    held = _frame(store, """
        SELECT o.won, count(a.id) AS n FROM opportunities o
        LEFT JOIN activities a ON a.lead_id = o.lead_id AND a.type IN ('demo', 'meeting')
        WHERE o.won IS NOT NULL GROUP BY o.id, o.won""")
    means = dict(held.group_by("won").agg(pl.col("n").mean()).iter_rows())
    assert means[True] > 1.3 * means[False]


# ------------------------------------------------------------------ realistic mess


def test_forms_have_gaps_odd_casing_and_second_submissions(store):
    leads = _frame(store, "SELECT * FROM leads")
    for column in ("vertical", "phone", "interest_level", "company_size"):
        assert 0.01 <= leads[column].null_count() / leads.height <= 0.08, column
    assert leads["channel"].drop_nulls().is_in(list(demo.CHANNELS)).all()
    assert leads["vertical"].drop_nulls().is_in(list(demo.VERTICALS)).all()
    names = leads["merchant_name"]
    assert (names == names.str.to_uppercase()).sum() > 0 and (names == names.str.to_lowercase()).sum() > 0
    twice = leads.group_by(pl.col("email").str.to_lowercase()).agg(
        pl.len().alias("n"), pl.col("merchant_name").n_unique().alias("spellings"))
    twice = twice.filter(pl.col("n") > 1)
    assert 20 <= twice.height <= 60  # ~2% of 2,000 leads
    assert (twice["spellings"] > 1).mean() > 0.9
    assert leads["external_id"].str.contains(r"^FL-\d{6}$").all()
    assert leads["phone"].drop_nulls().str.contains(r"555[- ]01\d\d$").all()


# ------------------------------------------------------------------ writing safely


def test_sequences_continue_after_the_generated_ids(store):
    with store.write() as con:
        for table in ("leads", "activities", "reps", "customers"):
            (top,) = con.execute(f"SELECT max(id) FROM {table}").fetchone()
            (nxt,) = con.execute(f"SELECT nextval('{table}_id_seq')").fetchone()
            assert nxt == top + 1, table
        con.execute("ROLLBACK")  # leave the shared store as generated
        con.execute("BEGIN TRANSACTION")


def test_a_filled_store_is_refused_without_replace_and_left_unchanged(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    demo.generate(store, "XS", seed=SEED, now=NOW)
    before = _snapshot(store)
    with pytest.raises(ValueError, match="replace"):
        demo.generate(store, "XS", seed=SEED + 1, now=NOW + timedelta(days=1))
    after = _snapshot(store)
    for table in demo.DEMO_TABLES:
        assert_frame_equal(before[table], after[table])
    assert _one(store, "SELECT value FROM settings WHERE key = 'demo_seed'") == str(SEED)


def test_replace_swaps_the_sales_data_but_keeps_users_audit_and_settings(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    demo.generate(store, "XS", seed=SEED, now=NOW)
    with store.write() as con:
        con.execute("INSERT INTO users (id, username, name, password_hash, role, active, must_change_password, "
                    "created_at) VALUES (1, 'ada', 'Ada', 'x', 'admin', true, false, ?)", [NOW])
        con.execute("INSERT INTO audit_log (id, logged_at, actor, action, entity) VALUES (1, ?, 'ada', 'login', 'user')",
                    [NOW])
        con.execute("INSERT INTO settings VALUES ('theme', 'dark')")
    counts = demo.generate(store, "XS", seed=SEED + 1, now=NOW, replace=True)
    assert _one(store, "SELECT count(*) FROM leads") == counts["leads"] == 2_000
    assert _one(store, "SELECT max(id) FROM activities") == counts["activities"]
    assert _one(store, "SELECT count(*) FROM users") == 1
    assert _one(store, "SELECT count(*) FROM audit_log") == 1
    assert _one(store, "SELECT value FROM settings WHERE key = 'theme'") == "dark"
    assert _one(store, "SELECT value FROM settings WHERE key = 'demo_seed'") == str(SEED + 1)


def test_a_failure_halfway_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.duckdb")
    demo.generate(store, "XS", seed=SEED, now=NOW)
    before = _snapshot(store)

    def broken(*args: object, **kwargs: object) -> pl.DataFrame:
        raise RuntimeError("disk full")

    # usage is written last: by then every other table has been emptied and refilled
    monkeypatch.setattr(demo, "_usage", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        demo.generate(store, "XS", seed=SEED + 1, now=NOW, replace=True)
    after = _snapshot(store)
    for table in demo.DEMO_TABLES:
        assert_frame_equal(before[table], after[table])


def test_an_empty_store_file_is_created(tmp_path):
    path: Path = tmp_path / "deep" / "new.duckdb"
    demo.generate(Store(path), "XS", seed=SEED, now=NOW)
    assert path.exists()
