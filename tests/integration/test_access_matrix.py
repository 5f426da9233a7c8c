"""Every domain read as every role: nothing outside the role's row scope comes back, contact details come back
masked for analysts and executives, and a lead outside the scope is not given away by an error message.

The reads are found by looking for public functions of flashdash whose second parameter is `actor`; each must be
in READS (with the arguments it needs) or in NOT_READS (with why it is not tested here), so that a new one
fails the matrix until it is added.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

import flashdash
from flashdash import (
    activities,
    admin,
    assignment,
    attribution,
    audit,
    bulk,
    deal_risk,
    deal_size,
    deals,
    effectiveness,
    executive,
    exports,
    forecast,
    forecast_accuracy,
    funnel,
    impact,
    imports,
    interest,
    leads,
    mail,
    org,
    performance,
    phase2,
    predictive,
    privacy,
    qualification,
    revenue,
    scoreboard,
    scoring,
    sequences,
    submissions,
    tasks,
    timeline,
    users,
    views,
    work,
    worklist,
)
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.filters import Filters
from flashdash.store import Store
from tests.access_probe import ROLES, Scope, frame_leaks, frames_in, lead_fields, message_leaks, scope_of, texts_in
from tests.conftest import NOW

TODAY = NOW.date()
FILTERS = Filters(start=date(2025, 7, 1), end=TODAY)
START = NOW - timedelta(days=365)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The XS demo with its Phase 2 history (tasks, emails), a trained model, and a sequence with leads of both
    teams enrolled: every read has rows to leak."""
    from flashdash import demo, users

    root = tmp_path_factory.mktemp("matrix")
    store = Store(root / "demo.duckdb")
    demo.generate(store, "XS", seed=7, now=NOW)
    users.create_demo_users(store, NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_MODELS", str(root / "models"))
        predictive.train(store, NOW)
    boss = resolve_actor(store, "admin")
    seq = sequences.adopt_starter(store, boss, "New inbound lead", None, NOW)
    with store.read() as con:
        open_ids = [r[0] for r in con.execute(
            "SELECT min(l.id) FROM leads l JOIN reps r ON r.id = l.owner_id "
            "WHERE l.status IN ('new', 'mql') AND NOT l.do_not_contact GROUP BY l.owner_id").fetchall()]
    sequences.enroll(store, boss, seq, open_ids, NOW)
    deal_risk.refresh_deal_risk(store, NOW)  # stored risks, velocity, scenarios and a forecast run: rows to leak
    revenue.refresh_velocity(store, NOW)
    forecast.refresh_forecast(store, NOW)
    forecast.save_scenario(store, resolve_actor(store, "manager"), "Matrix, team", {"win_rate": 1.1}, NOW)
    forecast.save_scenario(store, boss, "Matrix, company", {}, NOW)
    return store


@pytest.fixture(scope="module")
def models_env(store: Store) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_MODELS", str(store.path.parent / "models"))
        yield


@dataclass(frozen=True)
class Ctx:
    """What a read is called with: the store, the acting user, a lead (in or out of scope), a sequence, a folder."""

    store: Store
    actor: Actor
    lead: int
    rep: int
    sequence: int
    folder: Path


Call = Callable[[Ctx], Any]


def _activity(c: Ctx) -> activities.NewActivity:
    return activities.NewActivity(lead_id=c.lead, type="call", occurred_at=NOW - timedelta(hours=1), duration_min=5,
                                  outcome="connected")


# The reads, with the arguments each needs. A read of one lead is called with a lead in the role's scope and, for
# the roles with a scope, one outside it (Ctx.lead).
READS: dict[str, Call] = {
    "activities.data_entry": lambda c: activities.data_entry(c.store, c.actor, START, NOW),
    "activities.preview_many": lambda c: activities.preview_many(c.store, c.actor, [c.lead], _activity(c), NOW),
    "activities.templates": lambda c: activities.templates(c.store, c.actor, include_inactive=True),
    "admin.job_history": lambda c: admin.job_history(c.store, c.actor),
    "admin.jobs_overview": lambda c: admin.jobs_overview(c.store, c.actor, NOW),
    "admin.overview": lambda c: admin.overview(c.store, c.actor),
    "assignment.fairness": lambda c: assignment.fairness(c.store, c.actor, START.date(), TODAY),
    "assignment.policy": lambda c: assignment.policy(c.store, c.actor, None),
    "assignment.preview_assign_to": lambda c: assignment.preview_assign_to(c.store, c.actor, [c.lead], c.rep, NOW),
    "assignment.routing_table": lambda c: assignment.routing_table(c.store, c.actor),
    "assignment.territory_map": lambda c: assignment.territory_map(c.store, c.actor),
    "audit.check": lambda c: audit.check(c.store, c.actor),
    "audit.facets": lambda c: audit.facets(c.store, c.actor),
    "audit.history": lambda c: audit.history(c.store, c.actor, "lead", c.lead),
    "audit.search": lambda c: audit.search(c.store, c.actor),
    "audit.search_count": lambda c: audit.search_count(c.store, c.actor),
    "audit.status": lambda c: audit.status(c.store, c.actor),
    "bulk.preview": lambda c: bulk.preview(c.store, c.actor, [c.lead], bulk.BulkAction("stage", to_stage="mql",
                                                                                      reason="matrix"), NOW),
    "effectiveness.effectiveness": lambda c: effectiveness.effectiveness(c.store, c.actor, NOW),
    "executive.summary": lambda c: executive.summary(c.store, c.actor, FILTERS, TODAY),
    "exports.export_entity": lambda c: _exported(c),
    "funnel.funnel": lambda c: funnel.funnel(c.store, c.actor, FILTERS),
    "impact.phase1": lambda c: impact.phase1(c.store, c.actor, FILTERS, (date(2024, 7, 1), date(2025, 6, 30)), TODAY),
    "imports.history": lambda c: imports.history(c.store, c.actor),
    "imports.quarantine": lambda c: imports.quarantine(c.store, c.actor, 1),
    "interest.overview": lambda c: interest.overview(c.store, c.actor, FILTERS),
    "leads.assignment_history": lambda c: leads.assignment_history(c.store, c.actor, c.lead),
    "mail.outbox": lambda c: mail.outbox(c.store, c.actor),
    "mail.preview": lambda c: mail.preview(c.store, c.actor, "Hello {{lead.contact_name}}",
                                           "For {{lead.merchant_name}} at {{lead.email}}", c.lead),
    "mail.rates": lambda c: {by: mail.rates(c.store, c.actor, START, NOW, by) for by in mail.RATE_GROUPS},
    "mail.templates": lambda c: mail.templates(c.store, c.actor, include_inactive=True),
    "org.filter_options": lambda c: org.filter_options(c.store, c.actor),
    "phase2.measures": lambda c: phase2.measures(c.store, c.actor, START.date(), TODAY, NOW),
    "privacy.export": lambda c: privacy.export(c.store, c.actor, NOW, lead_ids=[c.lead], reason="matrix"),
    "privacy.find": lambda c: privacy.find(c.store, c.actor, lead_ids=[c.lead]),
    "privacy.preview_retention": lambda c: privacy.preview_retention(c.store, c.actor, NOW, 12, "anonymize"),
    "predictive.scores": lambda c: predictive.scores(c.store, c.actor, FILTERS, NOW),
    "qualification.criteria": lambda c: qualification.criteria(c.store, c.actor, None),
    "qualification.history": lambda c: qualification.history(c.store, c.actor, c.lead, NOW),
    "qualification.preview_change": lambda c: qualification.preview_change(c.store, c.actor, [c.lead], "mql"),
    "qualification.time_in_stage": lambda c: {
        "filter": qualification.time_in_stage(c.store, c.actor, views.LeadFilter(), NOW),
        "lead": qualification.time_in_stage(c.store, c.actor, [c.lead], NOW)},
    "scoreboard.board": lambda c: scoreboard.board(c.store, c.actor, FILTERS),
    "scoreboard.rep_deals": lambda c: scoreboard.rep_deals(c.store, c.actor, FILTERS, c.rep),
    "scoreboard.rep_leads": lambda c: scoreboard.rep_leads(c.store, c.actor, FILTERS, c.rep),
    "scoring.breakdown": lambda c: scoring.breakdown(c.store, c.actor, c.lead, NOW),
    "scoring.open_scores": lambda c: scoring.open_scores(c.store, c.actor, FILTERS, NOW),
    "scoring.rules": lambda c: scoring.rules(c.store, c.actor, None),
    "sequences.enrollment_summary": lambda c: sequences.enrollment_summary(c.store, c.actor, c.sequence),
    "sequences.enrollments": lambda c: {"all": sequences.enrollments(c.store, c.actor),
                                        "lead": sequences.enrollments(c.store, c.actor, lead_id=c.lead)},
    "sequences.preview_enroll": lambda c: sequences.preview_enroll(c.store, c.actor, c.sequence, [c.lead]),
    "sequences.results": lambda c: sequences.results(c.store, c.actor, c.sequence),
    "sequences.sequences": lambda c: sequences.sequences(c.store, c.actor),
    "sequences.starter_sequences": lambda c: sequences.starter_sequences(c.store, c.actor),
    "sequences.steps": lambda c: sequences.steps(c.store, c.actor, c.sequence),
    "submissions.headline": lambda c: submissions.headline(c.store, c.actor, FILTERS, "channel"),
    "submissions.lead_detail": lambda c: submissions.lead_detail(c.store, c.actor, c.lead),
    "submissions.listing": lambda c: submissions.listing(c.store, c.actor, FILTERS, "channel"),
    "submissions.overview": lambda c: submissions.overview(c.store, c.actor, FILTERS, "channel"),
    "tasks.compliance": lambda c: tasks.compliance(c.store, c.actor, START, NOW, NOW),
    "tasks.open_tasks": lambda c: tasks.open_tasks(c.store, c.actor),
    "tasks.preview_tasks": lambda c: tasks.preview_tasks(c.store, c.actor, [c.lead]),
    "tasks.queue": lambda c: tasks.queue(c.store, c.actor, NOW),
    "tasks.rules": lambda c: tasks.rules(c.store, c.actor, None),
    "tasks.task_counts": lambda c: tasks.task_counts(c.store, c.actor, NOW),
    "tasks.team_tasks": lambda c: tasks.team_tasks(c.store, c.actor, NOW),
    "timeline.timeline": lambda c: timeline.timeline(c.store, c.actor, c.lead, NOW),
    "users.access_review": lambda c: users.access_review(c.store, c.actor, NOW),
    "users.list_users": lambda c: users.list_users(c.store, c.actor, NOW),
    "users.rep_choices": lambda c: users.rep_choices(c.store, c.actor),
    "views.lead_count": lambda c: views.lead_count(c.store, c.actor, views.LeadFilter(), NOW),
    "views.lead_list": lambda c: views.lead_list(c.store, c.actor, views.LeadFilter(), NOW, limit=None),
    "views.view_filter": lambda c: views.view_filter(c.store, c.actor, "builtin:open"),
    "views.views": lambda c: views.views(c.store, c.actor),
    "work.activity_log": lambda c: work.activity_log(c.store, c.actor, FILTERS),
    "work.customer_book": lambda c: work.customer_book(c.store, c.actor, FILTERS),
    "work.lead_book": lambda c: work.lead_book(c.store, c.actor, FILTERS),
    "work.pipeline": lambda c: work.pipeline(c.store, c.actor, FILTERS),
    "attribution.attribute": lambda c: attribution.attribute(c.store, c.actor, FILTERS),
    "deal_risk.assess": lambda c: deal_risk.assess(c.store, c.actor, NOW),
    "deal_risk.check_against_history": lambda c: deal_risk.check_against_history(c.store, c.actor, NOW),
    "deal_risk.latest": lambda c: deal_risk.latest(c.store, c.actor),
    "deals.open_deals": lambda c: deals.open_deals(c.store, c.actor),
    "deals.deal_opening": lambda c: deals.deal_opening(c.store, c.actor, c.lead, NOW),
    "deals.leads_for_deal": lambda c: deals.leads_for_deal(c.store, c.actor),
    "deal_size.drivers": lambda c: deal_size.drivers(c.store, c.actor, NOW),
    "deal_size.undersized": lambda c: deal_size.undersized(c.store, c.actor, NOW),
    "forecast_accuracy.company_backtest": lambda c: forecast_accuracy.company_backtest(c.store, c.actor),
    "forecast.compare": lambda c: forecast.compare(c.store, c.actor, forecast.scenarios(c.store, c.actor)["id"].to_list()),
    "forecast.forecast": lambda c: forecast.forecast(c.store, c.actor, NOW, run_backtest=False),
    "forecast.latest_forecast": lambda c: forecast.latest_forecast(c.store, c.actor),
    "forecast.monthly_revenue": lambda c: forecast.monthly_revenue(c.store, c.actor, NOW),
    "forecast.pipeline_forecast": lambda c: forecast.pipeline_forecast(c.store, c.actor, NOW, draws=200),
    "forecast.quota_attainment": lambda c: {p: forecast.quota_attainment(c.store, c.actor, NOW, p, draws=200)
                                            for p in ("month", "next_quarter")},
    "forecast.read_inputs": lambda c: forecast.read_inputs(c.store, c.actor, NOW),
    "forecast.revenue_forecast": lambda c: forecast.revenue_forecast(c.store, c.actor, NOW, model="ets_aadn"),
    "forecast.scenario_base": lambda c: forecast.scenario(forecast.scenario_base(c.store, c.actor, NOW, draws=200),
                                                          {"win_rate": 1.2}),
    "forecast.scenarios": lambda c: forecast.scenarios(c.store, c.actor),
    "performance.activity_to_close": lambda c: performance.activity_to_close(c.store, c.actor, NOW),
    "performance.benchmarking": lambda c: performance.benchmarking(c.store, c.actor, FILTERS),
    "performance.benchmarks": lambda c: performance.benchmarks(c.store, c.actor),
    "performance.coaching": lambda c: performance.coaching(c.store, c.actor, FILTERS, NOW),
    "performance.productivity": lambda c: performance.productivity(c.store, c.actor, FILTERS),
    "revenue.latest_velocity": lambda c: revenue.latest_velocity(c.store, c.actor),
    "revenue.phase3_targets": lambda c: revenue.phase3_targets(c.store, c.actor, NOW),
    "revenue.velocity": lambda c: {by or "all": revenue.velocity(c.store, c.actor, START.date(), TODAY, by)
                                   for by in (None, "team", "rep", "vertical")},
    "revenue.win_loss": lambda c: revenue.win_loss(c.store, c.actor, START.date(), TODAY),
    "worklist.holdings": lambda c: worklist.holdings(c.store, c.actor, c.rep),
    "worklist.lead_ref": lambda c: worklist.lead_ref(c.store, c.actor, str(c.lead)),
    "worklist.open_leads": lambda c: worklist.open_leads(c.store, c.actor),
    "worklist.teammates": lambda c: worklist.teammates(c.store, c.actor),
}

# Reads of one lead: called with a lead outside the role's scope as well.
LEAD_READS = frozenset({
    "activities.preview_many", "assignment.preview_assign_to", "audit.history", "bulk.preview", "deals.deal_opening",
    "leads.assignment_history",
    "mail.preview", "privacy.export", "privacy.find", "qualification.history", "qualification.preview_change", "qualification.time_in_stage",
    "scoring.breakdown", "sequences.enrollments", "sequences.preview_enroll", "submissions.lead_detail",
    "tasks.preview_tasks", "timeline.timeline", "worklist.lead_ref",
})

# Public functions taking (store, actor, ...) that are not reads of rows; each with why it is not here.
NOT_READS: dict[str, str] = {
    "access.mask_pii": "the masking helper itself (frame, actor), no store",
    **{f"activities.{n}": "write" for n in ("log_activity", "log_csv", "log_many", "save_template")},
    **{f"assignment.{n}": "write" for n in ("assign_to", "clear_policy", "save_policy", "set_rep_routing")},
    "bulk.apply": "write",
    **{f"imports.{n}": "write" for n in ("import_file", "import_preset", "undo")},
    "leads.create_lead": "write",
    "forecast.save_scenario": "write",
    **{f"deals.{n}": "write" for n in ("move", "close", "open_deal")},
    "performance.save_benchmarks": "write",
    "pii.rotate": "write (an admin's key rotation; tests/integration/test_encryption.py)",
    **{f"mail.{n}": "write" for n in ("save_template", "send_now")},
    **{f"qualification.{n}": "write" for n in ("change_stage", "reset_criteria", "save_criteria")},
    "schedule.request_run": "write (asks the scheduler to run a job)",
    **{f"scoring.{n}": "write" for n in ("save_rules", "save_settings")},
    **{f"sequences.{n}": "write" for n in ("adopt_starter", "enroll", "pause", "resume", "save_sequence", "stop")},
    **{f"tasks.{n}": "write" for n in ("add_tasks", "cancel", "complete", "delegate", "delete_rule",
                                         "reassign_departing", "save_rule", "snooze")},
    "audit.record": "write (its actor is a username)",
    **{f"privacy.{n}": "write" for n in ("erase", "save_policy", "set_do_not_contact")},
    "users.create_user": "write (its actor is a username)",
    **{f"users.{n}": "write" for n in ("add_user", "change_role", "reset_password", "set_active", "unlock")},
    **{f"views.{n}": "write" for n in ("delete_view", "save_view")},
}

NOT_ADMIN = frozenset({"rep", "manager", "analyst", "executive"})
READERS_ONLY = frozenset({"analyst", "executive"})  # they read, and never write: a write's preview refuses them
# Who each read refuses with AccessDenied. A read not listed serves every role (within their scope): none of the
# reads answers a role it does not serve with an empty result instead.
REFUSED: dict[str, frozenset[str]] = {
    **dict.fromkeys(("admin.job_history", "admin.jobs_overview", "admin.overview", "audit.check", "audit.facets", "audit.search",
                     "audit.search_count", "audit.status", "exports.export_entity", "imports.history",
                     "imports.quarantine", "privacy.export", "privacy.find", "privacy.preview_retention",
                     "users.access_review", "users.list_users", "users.rep_choices"), NOT_ADMIN),
    **dict.fromkeys(("activities.preview_many", "bulk.preview", "deals.deal_opening", "deals.leads_for_deal",
                     "qualification.preview_change", "sequences.preview_enroll"), READERS_ONLY),
    "assignment.preview_assign_to": frozenset({"rep", "analyst", "executive"}),  # managers and admins assign
    "effectiveness.effectiveness": frozenset({"executive"}),
}

# Checks a read is documented to pass over, per role, with why.
EXEMPT: dict[tuple[str, str], tuple[str, ...]] = {}

# Leaks found: (read, role) -> what leaks. Each is an expected failure until the read is fixed (strict: it fails
# as soon as the leak is gone, so that the entry is removed).
LEAKS: dict[tuple[str, str], str] = {}


def _matrix(names: Iterable[str], roles: Iterable[str]) -> list[Any]:
    return [pytest.param(name, role, id=f"{name}-{role}",
                         marks=[pytest.mark.xfail(strict=True, reason=LEAKS[name, role])] if (name, role) in LEAKS
                         else [])
            for name in sorted(names) for role in roles]


def _exported(c: Ctx) -> dict[str, Any]:
    """Every entity the export writes, read back from its file."""
    import polars as pl

    out = {}
    for entity in exports.ENTITIES:
        path = c.folder / f"{c.actor.username}-{entity}.parquet"
        exports.export_entity(c.store, c.actor, entity, path, now=NOW)
        out[entity] = pl.read_parquet(path)
    return out


def discovered_reads() -> set[str]:
    """Public functions of flashdash's modules whose second parameter is `actor`."""
    found = set()
    for info in pkgutil.iter_modules(flashdash.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"flashdash.{info.name}")
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or fname.startswith("_"):
                continue
            params = list(inspect.signature(fn).parameters)
            if len(params) >= 2 and params[1] == "actor":
                found.add(f"{info.name}.{fname}")
    return found


def test_every_function_that_takes_an_actor_is_in_the_matrix() -> None:
    missing = sorted(discovered_reads() - READS.keys() - NOT_READS.keys())
    assert not missing, f"add these to READS (with their arguments) or NOT_READS (with why) in {__file__}: {missing}"


def test_the_matrix_lists_no_function_that_is_gone() -> None:
    gone = sorted((READS.keys() | NOT_READS.keys()) - discovered_reads())
    assert not gone, f"these are no longer functions taking (store, actor, ...): {gone}"


@pytest.fixture(scope="module")
def scopes(store: Store) -> dict[str, Scope]:
    return {role: scope_of(store, role) for role in ROLES}


def test_the_oracle_gives_the_rep_their_own_book_and_the_manager_their_team(scopes: dict[str, Scope]) -> None:
    rep, manager, admin_ = scopes["rep"], scopes["manager"], scopes["admin"]
    assert 0 < len(rep.lead_ids) < len(manager.lead_ids) < len(admin_.lead_ids)
    assert rep.lead_ids <= manager.lead_ids and rep.rep_ids <= manager.rep_ids
    assert len(rep.outside) == len(manager.outside) == 50
    assert scopes["analyst"].lead_ids == admin_.lead_ids and scopes["analyst"].masks_contacts


@pytest.fixture(scope="module")
def contexts(store: Store, scopes: dict[str, Scope], tmp_path_factory: pytest.TempPathFactory) -> dict[Any, Ctx]:
    """Each role's call arguments, with a lead in its scope (False) and one outside it (True)."""
    folder = tmp_path_factory.mktemp("exports")
    return {(role, outside): _ctx(store, scopes[role], folder, outside)
            for role in ROLES for outside in (False, True) if outside is False or not scopes[role].sees_all}


def _ctx(store: Store, scope: Scope, tmp: Path, outside: bool) -> Ctx:
    actor = resolve_actor(store, scope.username)
    with store.read() as con:
        ((seq,),) = con.execute("SELECT min(id) FROM sequences").fetchall()
        open_ids = {r[0] for r in con.execute("SELECT id FROM leads WHERE status IN ('new', 'mql', 'sql', "
                                              "'opportunity') AND NOT do_not_contact").fetchall()}
    inside = sorted(open_ids & scope.lead_ids)
    outside_ids = [o["id"] for o in scope.outside if o["id"] in open_ids]
    lead = outside_ids[0] if outside else inside[0]
    rep = actor.rep_id if actor.rep_id is not None else min(scope.rep_ids)
    return Ctx(store=store, actor=actor, lead=lead, rep=rep, sequence=seq, folder=tmp)


def _leaks(result: Any, scope: Scope, name: str) -> list[str]:
    skip = EXEMPT.get((name, scope.role), ())
    problems = [p for where, frame in frames_in(result, name) for p in frame_leaks(frame, scope, where, skip=skip)]
    for text in texts_in(result):
        if text in scope.hidden_values:
            problems.append(f"{name}: text {text[:60]!r} names a lead out of scope")
        if scope.masks_contacts and text in scope.contact_values:
            problems.append(f"{name}: text shows a contact detail {text!r}")
    return problems


@pytest.mark.parametrize(("name", "role"), _matrix(READS, ROLES))
def test_each_read_shows_a_role_only_rows_in_its_scope(name: str, role: str, scopes: dict[str, Scope],
                                                       contexts: dict[Any, Ctx], models_env: None) -> None:
    scope, c = scopes[role], contexts[role, False]
    if role in REFUSED.get(name, ()):
        with pytest.raises(AccessDenied):
            READS[name](c)
        return
    assert _leaks(READS[name](c), scope, name) == []


@pytest.mark.parametrize(("name", "role"), _matrix(LEAD_READS, ("rep", "manager")))
def test_a_read_of_a_lead_outside_the_scope_does_not_give_it_away(name: str, role: str, store: Store,
                                                                   scopes: dict[str, Scope], contexts: dict[Any, Ctx],
                                                                   models_env: None) -> None:
    c = contexts[role, True]
    # the lead asked for may come back by the id the caller gave (a preview lists it as refused), nothing more
    scope = dataclasses.replace(scopes[role], lead_ids=scopes[role].lead_ids | {c.lead})
    lead = lead_fields(store, c.lead)
    try:
        result = READS[name](c)
    except Exception as exc:  # noqa: BLE001 (any refusal will do, as long as its message keeps the lead hidden)
        assert message_leaks(str(exc), lead) == [], f"{type(exc).__name__}: {exc}"
        return
    assert _leaks(result, scope, name) == []
    assert [t for t in texts_in(result) if message_leaks(t, lead)] == []
