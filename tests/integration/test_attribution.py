"""Revenue attribution: which touches the SQL finds before a win on a hand-made store, and totals that add up to
the won revenue on the XS demo."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from flashdash import attribution
from flashdash.access import Actor, resolve_actor
from flashdash.filters import Filters
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
D = datetime.fromisoformat
JUNE = Filters(start=date(2026, 6, 1), end=date(2026, 6, 30))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Lead 1 (paid search, campaign "spring", Ann's) won June 10 for $1,000: a call by Ann June 2, a call by Bob
    (another rep) June 5, a sequence email June 8, an email sent from the app June 9 (logged as the June 9 email
    activity), a call June 12 after the win. Lead 2 (Bob's) won June 20 for $500 with no activity. Lead 3 (Ann's)
    lost."""
    store = Store(Path(tmp_path_factory.mktemp("attribution")) / "tiny.duckdb")
    store.ensure_schema(NOW)
    with store.write() as con:
        stored.insert(con, "reps", [{"id": i, "name": n, "title": "rep", "active": True, "monthly_quota": 0.0}
                              for i, n in ((1, "Ann"), (2, "Bob"))])
        stored.insert(con, "leads", [
            {"id": 1, "merchant_name": "M1", "channel": "paid_search", "campaign": "spring",
             "submitted_at": D("2026-05-30 09:00"), "owner_id": 1, "status": "won"},
            {"id": 2, "merchant_name": "M2", "channel": "referral", "submitted_at": D("2026-06-15 09:00"),
             "owner_id": 2, "status": "won"},
            {"id": 3, "merchant_name": "M3", "channel": "referral", "submitted_at": D("2026-06-15 09:00"),
             "owner_id": 1, "status": "lost"}])
        stored.insert(con, "opportunities", [
            {"id": 1, "lead_id": 1, "owner_id": 1, "amount": 1000.0, "stage": "closed_won",
             "created_at": D("2026-06-01 09:00"), "closed_at": D("2026-06-10 09:00"), "won": True},
            {"id": 2, "lead_id": 2, "owner_id": 2, "amount": 500.0, "stage": "closed_won",
             "created_at": D("2026-06-16 09:00"), "closed_at": D("2026-06-20 09:00"), "won": True},
            {"id": 3, "lead_id": 3, "owner_id": 1, "amount": 700.0, "stage": "closed_lost",
             "created_at": D("2026-06-16 09:00"), "closed_at": D("2026-06-20 09:00"), "won": False}])
        stored.insert(con, "activities", [
            {"lead_id": 1, "rep_id": r, "type": t, "occurred_at": D(at)}
            for r, t, at in ((1, "call", "2026-06-02 10:00"), (2, "call", "2026-06-05 10:00"),
                             (1, "email", "2026-06-09 10:00"), (1, "call", "2026-06-12 10:00"))])
        stored.insert(con, "sequences", [{"id": 1, "name": "Nurture", "pause_on": "reply", "active": True}])
        stored.insert(con, "sequence_enrollments", [{"id": 1, "sequence_id": 1, "lead_id": 1, "rep_id": 1,
                                               "enrolled_by": "ann", "enrolled_at": D("2026-06-07 09:00"),
                                               "status": "active", "next_position": 2}])
        stored.insert(con, "emails", [
            {"id": 1, "lead_id": 1, "rep_id": 1, "enrollment_id": 1, "token": "a", "status": "sent", "attempts": 1,
             "queued_by": "system", "queued_at": D("2026-06-08 09:00"), "sent_at": D("2026-06-08 09:00")},
            {"id": 2, "lead_id": 1, "rep_id": 1, "enrollment_id": None, "token": "b", "status": "sent", "attempts": 1,
             "queued_by": "ann", "queued_at": D("2026-06-09 10:00"), "sent_at": D("2026-06-09 10:00")}])
    return store


def test_a_wins_touches_are_its_submission_its_activities_and_its_sequence_emails_before_the_win(tiny: Store) -> None:
    touches = tiny.frame("attribution_touches", **JUNE.params(ADMIN)).filter(pl.col("opportunity_id") == 1)
    assert touches.select("source", "campaign", "rep").rows() == [
        ("paid_search", "spring", "(no rep: marketing)"),
        ("sales call", "(sales touch, no campaign)", "Ann"),
        ("sales call", "(sales touch, no campaign)", "Bob"),
        ("sequence email", "sequence: Nurture", "Ann"),
        ("sales email", "(sales touch, no campaign)", "Ann"),  # the app's email, once: as its activity
    ]


def test_a_rep_sees_their_own_wins_and_another_reps_touch_on_them_without_a_name(tiny: Store) -> None:
    ann = Actor("ann", "Ann", "rep", rep_id=1, scope_reps=(1,))
    out = attribution.attribute(tiny, ann, JUNE)
    assert out["won_revenue"] == 1000.0 and out["deals"] == 1
    reps = set(out["frame"].filter(pl.col("dimension") == "rep")["value"])
    assert reps == {"Ann", "(a rep outside your view)", "(no rep: marketing)"}


def test_the_last_touch_before_the_win_takes_a_single_touch_deals_whole_amount(tiny: Store) -> None:
    out = attribution.attribute(tiny, ADMIN, JUNE)
    last = out["frame"].filter((pl.col("dimension") == "source") & (pl.col("model") == "last touch"))
    assert dict(last.select("value", "revenue").iter_rows()) == {"sales email": 1000.0, "referral": 500.0}
    assert out["won_revenue"] == 1500.0 and out["deals"] == 2


def test_on_the_demo_every_model_attributes_exactly_the_won_revenue_in_every_dimension(demo_store: Store) -> None:
    year = Filters(start=date(2025, 7, 1), end=NOW.date())
    out = attribution.attribute(demo_store, ADMIN, year, half_life_days=14)
    with demo_store.read() as con:
        (won,) = con.execute("SELECT sum(amount) FROM opportunities WHERE won AND closed_at >= ? AND closed_at < ?",
                             [date(2025, 7, 1), date(2026, 7, 1)]).fetchone()
    assert out["won_revenue"] == pytest.approx(won)
    totals = out["totals"]
    assert totals.height == len(attribution.DIMENSIONS) * len(attribution.MODELS)
    assert totals["revenue"].to_list() == pytest.approx([won] * totals.height)
    shares = out["frame"].group_by("dimension", "model").agg(pl.col("share").sum())
    assert shares["share"].to_list() == pytest.approx([1.0] * shares.height)
    # the models disagree: first touch credits the channels, last touch the reps' work
    first = out["frame"].filter((pl.col("dimension") == "source") & (pl.col("model") == "first touch"))
    assert not first["value"].str.starts_with("sales ").any()


def test_on_the_demo_a_rep_is_credited_only_for_their_own_wins(demo_store: Store) -> None:
    rep = resolve_actor(demo_store, "rep")
    year = Filters(start=date(2025, 7, 1), end=NOW.date())
    mine = attribution.attribute(demo_store, rep, year)
    with demo_store.read() as con:
        (won,) = con.execute("SELECT sum(amount) FROM opportunities WHERE won AND owner_id = ? AND closed_at >= ?",
                             [rep.rep_id, date(2025, 7, 1)]).fetchone()
        (name,) = con.execute("SELECT name FROM reps WHERE id = ?", [rep.rep_id]).fetchone()
    assert mine["won_revenue"] == pytest.approx(won)
    reps = set(mine["frame"].filter(pl.col("dimension") == "rep")["value"])
    assert name in reps and reps <= {name, "(a rep outside your view)", "(no rep: marketing)"}
