"""Smart lead assignment: a new lead goes to a team of its region, then to one of the team's sellers.

Each team has a policy (or uses the default one): an ordered list of strategies that narrow or order the
team's sellers on duty. `territory` keeps the reps who cover the territory of the lead's city; `skills`
prefers reps who sell the lead's vertical and speak its language (falling back to the next best match
when the better matched cannot take it); `load` drops reps at their cap on open leads; and
`weighted_round_robin` picks the rep with the fewest recent leads per unit of weight, the weight drawn
from their recent results and kept between a floor and a ceiling so that nobody starves or floods.
Every decision records why, in words a manager reads: "territory Mountain; skill: retail, es; load 12 of
40; weight 1.3 (won revenue, 90 days)".

`route` decides; `assign` decides and writes, inside the caller's unit of work (the form, an import and
the scheduler call it on arrival). Both are deterministic for the same data and `now`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from flashdash import audit
from flashdash.access import AccessDenied, Actor, require_team_editor
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("routing policies", "changes the default routing policy")

STRATEGIES = ("territory", "skills", "load", "weighted_round_robin")
DEFAULT_STRATEGIES = STRATEGIES
WEIGHT_METRICS = ("won_revenue", "conversion", "equal")
METRIC_LABELS = {"won_revenue": "won revenue", "conversion": "conversion", "equal": "equal weights"}
DEFAULT_SETTINGS: dict[str, Any] = {
    "weight_metric": "won_revenue",  # won revenue per lead decided in the window; or conversion; or equal
    "weight_window_days": 90,  # the window of the weights and of the round-robin's counts
    "weight_prior_leads": 10,  # each rep starts with this many leads' worth of the team's mean
    "weight_floor": 0.5,
    "weight_ceiling": 2.0,
    "respect_caps": True,  # the load strategy drops reps at their cap (else it only reports the load)
    "language_required": False,  # skills drops reps who do not speak the lead's language (else prefers)
    "default_team_id": None,  # the default policy's team for leads of a region no team covers
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = DAYS[:5]
OPEN_STATUSES = ("new", "mql", "sql", "opportunity")
SELLER_EXCLUDED_TITLES = ("manager",)
MAX_CAP = 1000
MAX_LEADS_PER_CALL = 10_000
MAX_REASON = 500
MAX_SKILL = 60


class AssignmentError(ValueError):
    """An assignment request or setting that cannot be taken as given; the message says what to change."""


# ---------------------------------------------------------------- policies


@dataclass(frozen=True)
class Policy:
    """A team's routing policy as it applies (its own, the stored default, or the built-in default)."""

    team_id: int | None
    strategies: tuple[str, ...]
    settings: dict[str, Any]
    source: str  # team | default | built-in
    updated_by: str | None = None
    updated_at: datetime | None = None

    def as_dict(self, team: str | None = None) -> dict[str, Any]:
        return {"team_id": self.team_id, "team": team, "strategies": list(self.strategies),
                "settings": dict(self.settings), "source": self.source, "own": self.source == "team",
                "updated_by": self.updated_by, "updated_at": self.updated_at}


BUILT_IN = Policy(None, DEFAULT_STRATEGIES, dict(DEFAULT_SETTINGS), "built-in")


def validate_strategies(strategies: Sequence[str] | None) -> tuple[str, ...]:
    """The strategies trimmed, or AssignmentError naming every problem."""
    if strategies is None or isinstance(strategies, str):
        raise AssignmentError(f"The strategies must be a list drawn from {', '.join(STRATEGIES)}.")
    names = [str(s).strip().lower() for s in strategies]
    problems = []
    if not names:
        problems.append(f"pick at least one strategy ({', '.join(STRATEGIES)})")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        problems.append(f"unknown strategy {', '.join(map(repr, unknown))}; use {', '.join(STRATEGIES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"{', '.join(repeated)} is listed more than once; list each strategy once")
    if "weighted_round_robin" in names and names[-1] != "weighted_round_robin":
        problems.append("weighted_round_robin picks one rep, so it must come last")
    if problems:
        raise AssignmentError("The policy was not saved: " + "; ".join(problems) + ".")
    return tuple(names)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def validate_settings(settings: dict[str, Any] | None, team_id: int | None) -> dict[str, Any]:
    """Settings merged onto the defaults, or AssignmentError naming every problem."""
    given = dict(settings or {})
    problems = []
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS))
    if unknown:
        problems.append(f"unknown setting {', '.join(unknown)}; the settings are {', '.join(DEFAULT_SETTINGS)}")
    merged = {**DEFAULT_SETTINGS, **{k: v for k, v in given.items() if k in DEFAULT_SETTINGS}}
    if merged["weight_metric"] not in WEIGHT_METRICS:
        problems.append(f"weight_metric must be one of {', '.join(WEIGHT_METRICS)} (got {merged['weight_metric']!r})")
    window = merged["weight_window_days"]
    if not (isinstance(window, int) and not isinstance(window, bool) and 1 <= window <= 730):
        problems.append(f"weight_window_days must be a whole number of days from 1 to 730 (got {window!r})")
    prior = merged["weight_prior_leads"]
    if not (_is_number(prior) and 0 <= prior <= 10_000):
        problems.append(f"weight_prior_leads must be a number from 0 to 10000 (got {prior!r})")
    floor, ceiling = merged["weight_floor"], merged["weight_ceiling"]
    if not (_is_number(floor) and 0 < floor <= 1):
        problems.append(f"weight_floor must be above 0 and at most 1, the team's mean (got {floor!r})")
    if not (_is_number(ceiling) and 1 <= ceiling <= 10):
        problems.append(f"weight_ceiling must be from 1, the team's mean, to 10 (got {ceiling!r})")
    for key in ("respect_caps", "language_required"):
        if not isinstance(merged[key], bool):
            problems.append(f"{key} must be true or false (got {merged[key]!r})")
    default_team = merged["default_team_id"]
    if default_team is not None:
        if team_id is not None:
            problems.append("default_team_id belongs to the default policy; leave it out of a team's policy")
        elif not (isinstance(default_team, int) and not isinstance(default_team, bool)):
            problems.append(f"default_team_id must be a team id or empty (got {default_team!r})")
    if problems:
        raise AssignmentError("The policy was not saved: " + "; ".join(problems) + ".")
    return merged


def _stored_policy(row: dict[str, Any]) -> Policy | None:
    """A stored row as a Policy; None when it no longer validates (the built-in default applies instead)."""
    try:
        strategies = validate_strategies(json.loads(row["strategies"]))
        settings = validate_settings(json.loads(row["settings"] or "{}"), row["team_id"])
    except (AssignmentError, ValueError, TypeError):
        return None
    source = "team" if row["team_id"] is not None else "default"
    return Policy(row["team_id"], strategies, settings, source, row["updated_by"], row["updated_at"])


def stored_policies(store: Store, con: duckdb.DuckDBPyConnection) -> dict[int | None, Policy]:
    """Every valid stored policy by team (None: the default); the newest row of a team wins."""
    out: dict[int | None, Policy] = {}
    for row in store.frame("assignment_policies_all", con).iter_rows(named=True):
        parsed = _stored_policy(row)
        if parsed is not None:
            out[row["team_id"]] = parsed
    return out


def effective_policy(policies: dict[int | None, Policy], team_id: int | None) -> Policy:
    """The team's own policy, else the stored default, else the built-in default (with the team's id)."""
    if team_id in policies:
        return policies[team_id]
    base = policies.get(None, BUILT_IN)
    # default_team_id is the default policy's business, not a team's
    return replace(base, team_id=team_id, settings={**base.settings, "default_team_id": None}) \
        if team_id is not None else base


def _managed_team_ids(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> set[int]:
    if actor.rep_id is None:
        return set()
    return set(store.frame("assignment_managed_teams", con, rep_id=actor.rep_id)["team_id"].to_list())


def _own_team_ids(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> set[int]:
    """The teams whose settings the actor reads as their own: a manager's teams, a rep's team."""
    teams = _managed_team_ids(store, con, actor)
    if actor.rep_id is not None:
        teams |= set(store.frame("assignment_rep_team", con, rep_id=actor.rep_id)["team_id"].to_list())
    return teams


def _team_names(store: Store, con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    teams = store.frame("assignment_teams", con)
    return dict(zip(teams["team_id"].to_list(), teams["team"].to_list(), strict=True))


def policy(store: Store, actor: Actor, team_id: int | None) -> dict[str, Any]:
    """The policy that routes `team_id`'s leads (None: the default), and whether it is the team's own
    (`source` team) or the default (`default` stored, `built-in` when none is stored)."""
    with store.read() as con:
        names = _team_names(store, con)
        if team_id is not None and team_id not in names:
            raise AssignmentError(f"There is no team {team_id}.")
        if team_id is not None and actor.role in ("rep", "manager") and team_id not in _own_team_ids(store, con, actor):
            raise AccessDenied(f"A {actor.role} reads the routing policy of their own team only.")
        found = effective_policy(stored_policies(store, con), team_id)
    return found.as_dict(names.get(team_id) if team_id is not None else None)



def save_policy(store: Store, actor: Actor, team_id: int | None, strategies: Sequence[str],
                settings: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """Store the team's policy (None: the default; admins only), validated and audited; returns it as `policy`
    does. Settings left out take their defaults."""
    clean_strategies = validate_strategies(strategies)
    clean_settings = validate_settings(settings, team_id)
    with store.write() as con:
        names = _team_names(store, con)
        if team_id is not None and team_id not in names:
            raise AssignmentError(f"The policy was not saved: there is no team {team_id}.")
        require_team_editor(store, con, actor, team_id, *EDITED)
        default_team = clean_settings["default_team_id"]
        if default_team is not None and default_team not in names:
            raise AssignmentError(f"The policy was not saved: default_team_id {default_team} is not a team; "
                                  f"pick one of {', '.join(f'{i} ({n})' for i, n in names.items())}.")
        before = stored_policies(store, con).get(team_id)
        store.run("assignment_policy_delete", con, team_id=team_id)
        policy_id = store.scalar("assignment_policy_insert", con, team_id=team_id,
                                 strategies=json.dumps(list(clean_strategies)),
                                 settings=json.dumps(clean_settings, sort_keys=True),
                                 updated_by=actor.username, updated_at=now)
        saved = Policy(team_id, clean_strategies, clean_settings, "team" if team_id is not None else "default",
                       actor.username, now)
        audit.record(con, actor.username, "update" if before else "create", "assignment_policy",
                     "default" if team_id is None else team_id, now,
                     before=_policy_audit(before), after={**_policy_audit(saved), "id": policy_id},
                     reason="routing policy saved")
    return saved.as_dict(names.get(team_id) if team_id is not None else None)


def clear_policy(store: Store, actor: Actor, team_id: int | None, now: datetime) -> dict[str, Any]:
    """Drop the team's own policy (None: the stored default) so the default applies again; audited."""
    with store.write() as con:
        names = _team_names(store, con)
        if team_id is not None and team_id not in names:
            raise AssignmentError(f"There is no team {team_id}.")
        require_team_editor(store, con, actor, team_id, *EDITED)
        before = stored_policies(store, con).get(team_id)
        store.run("assignment_policy_delete", con, team_id=team_id)
        if before is not None:
            audit.record(con, actor.username, "delete", "assignment_policy", "default" if team_id is None else team_id,
                         now, before=_policy_audit(before), reason="routing policy cleared")
        after = effective_policy(stored_policies(store, con), team_id)
    return after.as_dict(names.get(team_id) if team_id is not None else None)


def _policy_audit(p: Policy | None) -> dict[str, Any] | None:
    return None if p is None else {"strategies": list(p.strategies), "settings": p.settings}


# ---------------------------------------------------------------- the org the router reads


def parse_list(text: str | None, lower: bool = True) -> tuple[str, ...]:
    """A comma-separated cell as trimmed items (lower-cased for matching), empty items dropped."""
    items = [x.strip() for x in (text or "").split(",")]
    return tuple(x.lower() if lower else x for x in items if x)


def parse_days(text: str | None) -> frozenset[str]:
    """Working days from a cell like "mon,tue,wed"; None or nothing readable: Monday to Friday."""
    days = frozenset(d[:3] for d in parse_list(text) if d[:3] in DAYS)
    return days or frozenset(WEEKDAYS)


def capacity(cap: int | None, days: frozenset[str]) -> int | None:
    """The cap on open leads scaled by working days per week / 5 (a 4-day week carries 4/5 of the cap)."""
    if cap is None:
        return None
    return int(cap * len(days) / 5 + 0.5)


@dataclass
class Seller:
    """A rep as the router sees them; `open_leads` and `recent` move as a run assigns."""

    rep_id: int
    name: str
    team_id: int | None
    title: str = "rep"
    active: bool = True
    verticals: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    cap: int | None = None
    days: frozenset[str] = frozenset(WEEKDAYS)
    territories: frozenset[int] = frozenset()
    open_leads: int = 0
    recent: int = 0
    weight: float = 1.0

    @property
    def capacity(self) -> int | None:
        return capacity(self.cap, self.days)

    @property
    def sells(self) -> bool:
        return self.active and self.title not in SELLER_EXCLUDED_TITLES

    def load_text(self) -> str:
        cap = self.capacity
        return f"load {self.open_leads}, no cap" if cap is None else f"load {self.open_leads} of {cap}"


@dataclass(frozen=True)
class TeamInfo:
    team_id: int
    name: str
    region_id: int | None


@dataclass(frozen=True)
class CityInfo:
    region_id: int | None
    territory_id: int | None
    territory: str | None


@dataclass
class Org:
    """Everything a routing run reads, loaded once: teams, sellers, the map and the policies."""

    teams: dict[int, TeamInfo]
    sellers: dict[int, Seller]
    cities: dict[str, CityInfo] = field(default_factory=dict)
    regions: dict[int, str] = field(default_factory=dict)
    policies: dict[int | None, Policy] = field(default_factory=dict)
    _by_team: dict[int, list[Seller]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # looked up for every lead: index once (membership does not change during a run, only loads do)
        for s in sorted(self.sellers.values(), key=lambda s: s.rep_id):
            if s.sells and s.team_id is not None:
                self._by_team.setdefault(s.team_id, []).append(s)

    def policy_for(self, team_id: int | None) -> Policy:
        return effective_policy(self.policies, team_id)

    def team_sellers(self, team_id: int) -> list[Seller]:
        return self._by_team.get(team_id, [])

    def region_name(self, region_id: int | None) -> str:
        return self.regions.get(region_id, f"#{region_id}") if region_id is not None else "unknown"


def build_org(teams: pl.DataFrame, reps: pl.DataFrame, rep_territories: pl.DataFrame | None = None,
              cities: pl.DataFrame | None = None, regions: pl.DataFrame | None = None,
              policies: dict[int | None, Policy] | None = None) -> Org:
    """An Org from frames: teams(team_id, team, region_id); reps(rep_id, name, team_id, and optionally title,
    active, verticals, languages, max_open_leads, working_days, open_leads, recent, weight);
    rep_territories(rep_id, territory_id); cities(city, region_id, territory_id, territory);
    regions(region_id, region)."""
    covered: dict[int, set[int]] = {}
    for rep_id, territory_id in (rep_territories.iter_rows() if rep_territories is not None else ()):
        covered.setdefault(rep_id, set()).add(territory_id)
    sellers = {}
    for r in reps.iter_rows(named=True):
        sellers[r["rep_id"]] = Seller(
            rep_id=r["rep_id"], name=r["name"], team_id=r["team_id"], title=r.get("title") or "rep",
            active=bool(r.get("active", True)), verticals=frozenset(parse_list(r.get("verticals"))),
            languages=frozenset(parse_list(r.get("languages"))), cap=r.get("max_open_leads"),
            days=parse_days(r.get("working_days")), territories=frozenset(covered.get(r["rep_id"], ())),
            open_leads=int(r.get("open_leads") or 0), recent=int(r.get("recent") or 0),
            weight=float(r["weight"]) if r.get("weight") is not None else 1.0)
    return Org(
        teams={t["team_id"]: TeamInfo(t["team_id"], t["team"], t["region_id"]) for t in teams.iter_rows(named=True)},
        sellers=sellers,
        cities={c["city"]: CityInfo(c["region_id"], c["territory_id"], c["territory"])
                for c in (cities.iter_rows(named=True) if cities is not None else ())},
        regions=dict(regions.select("region_id", "region").iter_rows()) if regions is not None else {},
        policies=dict(policies or {}),
    )


def performance_weights(perf: pl.DataFrame, metric: str, prior: float, floor: float, ceiling: float) -> pl.DataFrame:
    """Each rep's weight from perf(rep_id, team_id, decided, won, won_revenue): their conversion rate or won
    revenue per decided lead, shrunk towards the team's as if they had `prior` more leads at the team's rate,
    over the team's, clipped to floor..ceiling. A team with nothing won weighs everyone 1."""
    if metric == "equal" or perf.is_empty():
        return perf.select("rep_id", "team_id", pl.lit(1.0).alias("weight"))
    # revenue per decided lead rather than total revenue: a total grows with the leads routing gave, which
    # would feed back into routing more to whoever already had more
    value = pl.col("won").cast(pl.Float64) if metric == "conversion" else pl.col("won_revenue").cast(pl.Float64)
    decided = pl.col("decided").cast(pl.Float64)
    team_value = value.sum().over("team_id") / decided.sum().over("team_id")
    rep_value = (value + prior * team_value) / (decided + prior)
    weight = (rep_value / team_value).clip(floor, ceiling)
    return perf.select(
        "rep_id", "team_id",
        pl.when(team_value > 0).then(weight).otherwise(1.0).fill_nan(1.0).fill_null(1.0).alias("weight"))


def _weights_and_counts(store: Store, con: duckdb.DuckDBPyConnection, reps: pl.DataFrame,
                        policies: dict[int | None, Policy], until: datetime) -> pl.DataFrame:
    """reps with `weight` and `recent` (leads given in the window) under each team's policy."""
    sellers = reps.filter(pl.col("active") & ~pl.col("title").is_in(SELLER_EXCLUDED_TITLES)
                          & pl.col("team_id").is_not_null())
    parts = []
    windows: dict[int, pl.DataFrame] = {}
    for team_id in sellers["team_id"].unique().sort().to_list():
        s = effective_policy(policies, team_id).settings
        days = s["weight_window_days"]
        if days not in windows:
            since = until - timedelta(days=days)
            perf = store.frame("assignment_performance", con, since=since, until=until)
            recent = store.frame("assignment_recent_counts", con, since=since, until=until)
            windows[days] = perf.join(recent, on="rep_id", how="left")
        team = windows[days].filter(pl.col("team_id") == team_id).join(
            sellers.select("rep_id"), on="rep_id", how="semi")
        w = performance_weights(team, s["weight_metric"], s["weight_prior_leads"], s["weight_floor"],
                                s["weight_ceiling"])
        parts.append(w.join(team.select("rep_id", pl.col("recent").fill_null(0)), on="rep_id"))
    schema = {"rep_id": pl.Int32, "weight": pl.Float64, "recent": pl.Int64}
    got = pl.concat([p.select(pl.col(k).cast(v) for k, v in schema.items()) for p in parts]) if parts \
        else pl.DataFrame(schema=schema)
    return reps.with_columns(pl.col("rep_id").cast(pl.Int32)).join(got, on="rep_id", how="left")


def load_org(store: Store, con: duckdb.DuckDBPyConnection, now: datetime) -> Org:
    """The org as of `now`: sellers with their open leads, recent assignments and weights."""
    policies = stored_policies(store, con)
    reps = _weights_and_counts(store, con, store.frame("assignment_reps", con), policies, now)
    return build_org(store.frame("assignment_teams", con), reps, store.frame("assignment_rep_territories", con),
                     store.frame("assignment_cities", con), store.frame("assignment_regions", con), policies)


# ---------------------------------------------------------------- the router


@dataclass(frozen=True)
class LeadIn:
    """What routing reads of a lead."""

    lead_id: int
    vertical: str | None = None
    language: str | None = None
    city: str | None = None
    region_id: int | None = None
    owner_id: int | None = None
    status: str = "new"


@dataclass
class Narrowed:
    """One strategy's answer: tiers of candidates, the first preferred, each tried in turn; why per rep."""

    strategy: str
    tiers: list[list[Seller]]
    note: Callable[[int, Seller], str]  # (tier index, chosen rep) -> text for the reason
    # when every tier is empty, why nobody is left: a text with "{}" for the reps it names, and those reps
    failure: tuple[str, list[str]] = ("", [])


@dataclass
class _Ctx:
    lead: LeadIn
    org: Org
    policy: Policy
    day: str
    team: TeamInfo


def _territory(cands: list[Seller], ctx: _Ctx) -> Narrowed:
    lead, org = ctx.lead, ctx.org
    city = org.cities.get(lead.city) if lead.city else None
    if lead.city is None:
        return Narrowed("territory", [cands], lambda i, s: "no city, so no territory")
    if city is None or city.territory_id is None:
        return Narrowed("territory", [cands], lambda i, s: f"city {lead.city} is in no territory")
    name = city.territory or f"#{city.territory_id}"
    covering = [s for s in cands if city.territory_id in s.territories]
    if covering:
        return Narrowed("territory", [covering], lambda i, s: f"territory {name}")
    off_duty = [s for s in org.team_sellers(ctx.team.team_id) if city.territory_id in s.territories]
    why = f"nobody covering territory {name} works on {ctx.day}" if off_duty else f"no rep covers territory {name}"
    return Narrowed("territory", [cands], lambda i, s: why)


def _skills(cands: list[Seller], ctx: _Ctx) -> Narrowed:
    vertical = (ctx.lead.vertical or "").strip().lower() or None
    language = (ctx.lead.language or "").strip().lower() or None
    if vertical is None and language is None:
        return Narrowed("skills", [cands], lambda i, s: "skill: no vertical or language to match")

    def sells(s: Seller) -> bool:
        return vertical is None or vertical in s.verticals

    def speaks(s: Seller) -> bool:
        return language is None or language in s.languages

    if ctx.policy.settings["language_required"] and language is not None:
        cands = [s for s in cands if speaks(s)]
        if not cands:
            return Narrowed("skills", [], lambda i, s: "", (f"nobody on duty speaks {language} (language required)", []))
    # both matched first; the language before the vertical, since a merchant must be understood
    tiers = [[s for s in cands if sells(s) and speaks(s)], [s for s in cands if speaks(s) and not sells(s)],
             [s for s in cands if sells(s) and not speaks(s)], [s for s in cands if not sells(s) and not speaks(s)]]
    wanted = [x for x in (vertical, language) if x is not None]

    def note(i: int, s: Seller) -> str:
        matched = [x for x in wanted if (x == vertical and sells(s)) or (x == language and speaks(s))]
        missed = [x for x in wanted if x not in matched]
        if not missed:
            return f"skill: {', '.join(matched)}"
        if not matched:
            return f"skill: no match for {', '.join(missed)}"
        return f"skill: {', '.join(matched)} ({', '.join(missed)} unmatched)"

    return Narrowed("skills", tiers, note)


def _load(cands: list[Seller], ctx: _Ctx) -> Narrowed:
    if not ctx.policy.settings["respect_caps"]:
        return Narrowed("load", [cands], lambda i, s: s.load_text() + " (caps not enforced)")
    under = [s for s in cands if s.capacity is None or s.open_leads < s.capacity]
    at_cap = [f"{s.name} {s.open_leads} of {s.capacity}" for s in cands if s not in under]
    return Narrowed("load", [under], lambda i, s: s.load_text(), ("every candidate is at their cap ({})", at_cap))


def _round_robin(cands: list[Seller], ctx: _Ctx) -> Narrowed:
    chosen = min(cands, key=lambda s: ((s.recent + 1) / s.weight, s.rep_id))
    settings = ctx.policy.settings
    metric, days = settings["weight_metric"], settings["weight_window_days"]

    def note(i: int, s: Seller) -> str:
        if metric == "equal":
            return f"round-robin, equal weights ({s.recent} in {days} days)"
        return f"weight {round(s.weight, 2):g} ({METRIC_LABELS[metric]}, {days} days)"

    return Narrowed("weighted_round_robin", [[chosen]], note)


STEPS: dict[str, Callable[[list[Seller], _Ctx], Narrowed]] = {
    "territory": _territory, "skills": _skills, "load": _load, "weighted_round_robin": _round_robin,
}


@dataclass
class _Outcome:
    rep: Seller | None
    notes: list[str] = field(default_factory=list)  # reason parts, in strategy order
    sizes: list[tuple[str, int]] = field(default_factory=list)  # (strategy, candidates it passed on)
    failures: dict[str, list[str]] = field(default_factory=dict)  # why nobody is left -> the reps it names
    failed: str = ""  # the strategy that left nobody

    def failure_text(self) -> str:
        return "; ".join(why.format(", ".join(sorted(reps))) if "{}" in why else why
                         for why, reps in self.failures.items())


def _narrow(steps: Sequence[str], cands: list[Seller], ctx: _Ctx) -> _Outcome:
    """Run the strategies in order; a strategy's later tiers are tried only when its earlier ones end empty."""
    if not steps:
        if len(cands) == 1:
            return _Outcome(cands[0])
        # no round-robin in the policy: the least loaded of those left takes it
        chosen = min(cands, key=lambda s: (s.open_leads, s.rep_id))
        return _Outcome(chosen, ["fewest open leads"])
    narrowed = STEPS[steps[0]](cands, ctx)
    failed: list[_Outcome] = []
    for i, tier in enumerate(narrowed.tiers):
        if not tier:
            continue
        out = _narrow(steps[1:], tier, ctx)
        if out.rep is not None:
            return _Outcome(out.rep, [narrowed.note(i, out.rep), *out.notes],
                            [(narrowed.strategy, len(tier)), *out.sizes])
        failed.append(out)
    if not failed:
        why, reps = narrowed.failure
        return _Outcome(None, failures={why or f"{narrowed.strategy} left nobody": list(reps)},
                        failed=narrowed.strategy)
    # each preferred tier failed further down: one reason each, naming the reps of every tier
    merged: dict[str, list[str]] = {}
    for out in failed:
        for why, reps in out.failures.items():
            merged.setdefault(why, []).extend(r for r in reps if r not in merged[why])
    return _Outcome(None, failures=merged, failed=failed[0].failed)


def _spare(sellers: list[Seller]) -> float:
    return sum(math.inf if s.capacity is None else max(s.capacity - s.open_leads, 0) for s in sellers)


def _pick_team(lead: LeadIn, org: Org, day: str) -> tuple[TeamInfo | None, str]:
    """The team for the lead's region (most spare capacity when several) and what to say about it."""
    region = lead.region_id
    if region is None and lead.city in org.cities:
        region = org.cities[lead.city].region_id
    teams = [t for t in org.teams.values() if region is not None and t.region_id == region]
    if len(teams) == 1:
        return teams[0], ""
    if teams:
        def key(t: TeamInfo) -> tuple[float, float, int]:
            on_duty = [s for s in org.team_sellers(t.team_id) if day in s.days]
            per_seller = sum(s.open_leads for s in on_duty) / len(on_duty) if on_duty else math.inf
            return (-_spare(on_duty), per_seller, t.team_id)

        best = min(teams, key=key)
        return best, f"team {best.name} (most spare capacity in {org.region_name(region)})"
    where = f"region {org.region_name(region)}" if region is not None else "the lead's region (unknown)"
    default_team = org.policy_for(None).settings.get("default_team_id")
    if default_team in org.teams:
        team = org.teams[default_team]
        return team, f"no team covers {where}; default team {team.name}"
    return None, f"no team covers {where} and the default policy names no default team"


def decide(lead: LeadIn, org: Org, now: datetime) -> dict[str, Any]:
    """One lead's routing: {lead_id, rep_id, team_id, strategy, reason}. Moves no load; `route_leads` does."""
    day = DAYS[now.weekday()]
    team, team_note = _pick_team(lead, org, day)
    if team is None:
        return {"lead_id": lead.lead_id, "rep_id": None, "team_id": None, "strategy": "team", "reason": team_note}
    pol = org.policy_for(team.team_id)
    prefix = [team_note] if team_note else []
    team_sellers = org.team_sellers(team.team_id)
    on_duty = [s for s in team_sellers if day in s.days]
    if not on_duty:
        why = f"nobody on team {team.name} works on {day}" if team_sellers else f"team {team.name} has no active sellers"
        return {"lead_id": lead.lead_id, "rep_id": None, "team_id": team.team_id, "strategy": "team",
                "reason": "; ".join([*prefix, why])}
    out = _narrow(pol.strategies, on_duty, _Ctx(lead, org, pol, day, team))
    if out.rep is None:
        return {"lead_id": lead.lead_id, "rep_id": None, "team_id": team.team_id, "strategy": out.failed,
                "reason": "; ".join([*prefix, "left unassigned: " + out.failure_text()])}
    decided = next((name for name, size in out.sizes if size == 1), pol.strategies[-1])
    return {"lead_id": lead.lead_id, "rep_id": out.rep.rep_id, "team_id": team.team_id, "strategy": decided,
            "reason": "; ".join([*prefix, *out.notes])}


ROUTE_SCHEMA = {"lead_id": pl.Int64, "rep_id": pl.Int64, "team_id": pl.Int64, "strategy": pl.String,
                "reason": pl.String}


def route_leads(leads: Iterable[LeadIn], org: Org, now: datetime, reroute: bool = False) -> pl.DataFrame:
    """Decide every lead in order, in one pass: each assignment moves the rep's load and round-robin count
    before the next lead is decided, and a re-routed lead leaves its previous owner's load. Closed leads (and
    owned ones unless `reroute`) are skipped, saying why."""
    rows = []
    for lead in leads:
        if lead.status not in OPEN_STATUSES:
            rows.append({"lead_id": lead.lead_id, "rep_id": None, "team_id": None, "strategy": "skipped",
                         "reason": f"the lead is {lead.status}; only open leads are routed"})
            continue
        if lead.owner_id is not None and not reroute:
            owner = org.sellers.get(lead.owner_id)
            rows.append({"lead_id": lead.lead_id, "rep_id": None, "team_id": None, "strategy": "skipped",
                         "reason": f"the lead already has an owner ({owner.name if owner else lead.owner_id})"})
            continue
        previous = org.sellers.get(lead.owner_id) if lead.owner_id is not None else None
        if previous is not None:
            previous.open_leads -= 1
        row = decide(lead, org, now)
        chosen = org.sellers.get(row["rep_id"]) if row["rep_id"] is not None else None
        if chosen is not None:
            chosen.open_leads += 1
            if chosen is not previous:  # a lead kept by its owner was already counted
                chosen.recent += 1
        elif previous is not None:  # nobody else could take it: it stays where it was
            previous.open_leads += 1
        rows.append(row)
    return pl.DataFrame(rows, schema=ROUTE_SCHEMA)


def _leads_in(frame: pl.DataFrame) -> list[LeadIn]:
    return [LeadIn(**r) for r in frame.iter_rows(named=True)]


def _ids(lead_ids: Iterable[int]) -> list[int]:
    try:
        return list(dict.fromkeys(int(i) for i in lead_ids))
    except (TypeError, ValueError):
        raise AssignmentError("Lead ids must be whole numbers.") from None


def route(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None, now: datetime,
          reroute: bool = False) -> pl.DataFrame:
    """What `assign` would do, without writing: frame(lead_id, rep_id, team_id, strategy, reason)."""
    if lead_ids is None:
        leads = store.frame("assignment_unowned_leads", con)
    else:
        ids = _ids(lead_ids)
        leads = store.frame("assignment_leads_by_id", con, lead_ids=ids)
    out = route_leads(_leads_in(leads), load_org(store, con, now), now, reroute=reroute)
    if lead_ids is not None:
        found = set(leads["lead_id"].to_list())
        missing = [i for i in ids if i not in found]
        if missing:
            out = pl.concat([out, pl.DataFrame(
                {"lead_id": missing, "rep_id": None, "team_id": None, "strategy": "skipped",
                 "reason": "no lead with this id"}, schema=ROUTE_SCHEMA)])
    return out


def assign(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None, now: datetime,
           actor: str = "system", reroute: bool = False) -> pl.DataFrame:
    """Route and write, inside the caller's write unit of work: every open lead without an owner (None), or
    those of `lead_ids` (owned ones too when `reroute`), gets an owner and `assigned_at`, one lead_assignments
    row with the reason, and an audit record. A lead left unassigned gets a record saying why (not repeated
    while the reason stands, whatever its numbers). Returns frame(lead_id, rep_id, team_id, strategy, reason);
    skipped ids (closed, owned, unknown) are in it with strategy "skipped"."""
    if lead_ids is not None:
        lead_ids = _ids(lead_ids)
    decided = route(store, con, lead_ids, now, reroute=reroute)
    if decided.is_empty():
        return decided
    previous = _previous_owners(store, con, decided["lead_id"].to_list())
    decided = decided.join(previous, on="lead_id", how="left")
    moved = decided.filter(pl.col("rep_id").is_not_null()
                           & (pl.col("previous_rep_id").is_null() | (pl.col("rep_id") != pl.col("previous_rep_id"))))
    left = decided.filter(pl.col("rep_id").is_null() & (pl.col("strategy") != "skipped"))
    last = store.frame("assignment_last_records", con, lead_ids=left["lead_id"].to_list()) \
        if not left.is_empty() else pl.DataFrame(schema={"lead_id": pl.Int64, "rep_id": pl.Int64, "reason": pl.String})
    # the same reason with other numbers ("Ann 41 of 40" after "Ann 40 of 40") is not news: a scheduler that
    # retries every few minutes would otherwise write a record per lead per run while the reps stay full
    gist = pl.col("reason").str.replace_all(r"\d+", "#")
    repeated = last.filter(pl.col("rep_id").is_null()).select(pl.col("lead_id").cast(pl.Int64),
                                                               gist.alias("last_gist"))
    left = left.join(repeated, on="lead_id", how="left") \
        .filter(pl.col("last_gist").is_null() | (pl.col("last_gist") != gist)).drop("last_gist")
    _write(store, con, moved, left, now, actor)
    return decided.drop("previous_rep_id")


def _previous_owners(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: list[int]) -> pl.DataFrame:
    found = store.frame("assignment_manual_leads", con, lead_ids=lead_ids)
    return found.select(pl.col("lead_id").cast(pl.Int64), pl.col("owner_id").cast(pl.Int64).alias("previous_rep_id"))


def _write(store: Store, con: duckdb.DuckDBPyConnection, moved: pl.DataFrame, left: pl.DataFrame, now: datetime,
           actor: str) -> None:
    if not moved.is_empty():
        store.run("assignment_set_owners", con, lead_ids=moved["lead_id"].to_list(),
                  rep_ids=moved["rep_id"].to_list(), now=now)
    records = pl.concat([moved, left], how="vertical_relaxed")
    if not records.is_empty():
        store.run("assignment_insert_records", con, lead_ids=records["lead_id"].to_list(),
                  rep_ids=records["rep_id"].to_list(), previous_rep_ids=records["previous_rep_id"].to_list(),
                  strategies=records["strategy"].to_list(), reasons=records["reason"].to_list(), now=now, actor=actor)
    if not moved.is_empty():
        # the records audit.record would write, in one statement (see assignment_audit_many)
        rows = list(moved.iter_rows(named=True))
        store.run("assignment_audit_many", con, now=now, actor=actor,
                  entity_ids=[str(r["lead_id"]) for r in rows],
                  befores=[_audit_json({"owner_id": r["previous_rep_id"]}) for r in rows],
                  afters=[_audit_json({"owner_id": r["rep_id"], "strategy": r["strategy"]}) for r in rows],
                  reasons=[r["reason"] for r in rows])


def _audit_json(value: dict[str, Any]) -> str:
    return json.dumps(value, default=str, sort_keys=True)  # as flashdash.audit writes before/after


# ---------------------------------------------------------------- manual assignment


MANUAL_ROLES = ("manager", "admin")


def _manual_plan(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, lead_ids: Iterable[int],
                 rep_id: int, now: datetime) -> tuple[dict[str, Any], pl.DataFrame]:
    """What a manual assignment would do, or AccessDenied / AssignmentError saying why it may not."""
    if actor.role not in MANUAL_ROLES:
        raise AccessDenied(f"A {actor.role} may not assign leads; ask your manager.")
    ids = _ids(lead_ids)
    if not ids:
        raise AssignmentError("Pick at least one lead to assign.")
    if len(ids) > MAX_LEADS_PER_CALL:
        raise AssignmentError(f"{len(ids):,} leads is too many at once; assign at most {MAX_LEADS_PER_CALL:,}.")
    reps = store.frame("assignment_rep", con, rep_id=rep_id)
    if reps.is_empty():
        raise AssignmentError(f"There is no rep {rep_id}.")
    rep = reps.row(0, named=True)
    if not actor.sees_all and rep_id not in (actor.scope_reps or ()):
        raise AccessDenied(f"{rep['name']} is not on your team; a manager assigns leads within their team.")
    if not rep["active"]:
        raise AssignmentError(f"{rep['name']} is inactive; pick an active rep.")
    leads = store.frame("assignment_manual_leads", con, lead_ids=ids)
    if not actor.sees_all:
        regions = {t["region_id"] for t in store.frame("assignment_managed_teams", con, rep_id=actor.rep_id)
                   .iter_rows(named=True)} if actor.rep_id is not None else set()
        scope = set(actor.scope_reps or ())
        leads = leads.filter(pl.col("owner_id").is_in(list(scope))
                             | (pl.col("owner_id").is_null() & pl.col("region_id").is_in(list(regions))))
    problems = []
    unseen = sorted(set(ids) - set(leads["lead_id"].to_list()))
    if unseen:
        problems.append(f"{_id_list(unseen)} {'is' if len(unseen) == 1 else 'are'} not in your book or do not exist")
    closed = leads.filter(~pl.col("status").is_in(OPEN_STATUSES))
    if not closed.is_empty():
        problems.append(f"{_id_list(closed['lead_id'].to_list())} {'is' if closed.height == 1 else 'are'} closed "
                        "(won, lost or disqualified); only open leads are reassigned")
    if problems:
        raise AssignmentError("Nothing was assigned: " + "; ".join(problems) + ".")
    moving = leads.filter(pl.col("owner_id").is_null() | (pl.col("owner_id") != rep_id))
    days = parse_days(rep["working_days"])
    cap = capacity(rep["max_open_leads"], days)
    after = rep["open_leads"] + moving.height
    from_reps = moving.group_by(pl.col("owner").fill_null("unassigned")).len().sort(["len", "owner"],
                                                                                   descending=[True, False])
    warnings = []
    if cap is not None and after > cap:
        warnings.append(f"{rep['name']} will have {after} open leads, over their capacity of {cap}")
    if DAYS[now.weekday()] not in days:
        warnings.append(f"{rep['name']} does not work on {DAYS[now.weekday()]}")
    plan = {"rep_id": rep_id, "rep": rep["name"], "team": rep["team"], "leads": len(ids),
            "to_move": moving.height, "already_theirs": leads.height - moving.height,
            "from": dict(from_reps.iter_rows()), "open_before": rep["open_leads"], "open_after": after,
            "capacity": cap, "over_capacity": cap is not None and after > cap, "warnings": warnings}
    return plan, moving


def _id_list(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
    return f"lead{'s' if len(ids) > 1 else ''} {shown}{more}"


def preview_assign_to(store: Store, actor: Actor, lead_ids: Iterable[int], rep_id: int,
                      now: datetime) -> dict[str, Any]:
    """What `assign_to` would do, without writing: counts, the rep's load before and after, warnings."""
    with store.read() as con:
        plan, _ = _manual_plan(store, con, actor, lead_ids, rep_id, now)
    return plan


def assign_to(store: Store, actor: Actor, lead_ids: Iterable[int], rep_id: int, reason: str,
              now: datetime) -> dict[str, Any]:
    """Give the leads to `rep_id` by hand (managers within their team, admins any), with a reason; recorded
    as strategy "manual" and audited, all or nothing. Returns the preview's dict with `assigned`."""
    why = (reason or "").strip()
    if not why:
        raise AssignmentError("Say why these leads are reassigned; the reason is kept with each assignment.")
    if len(why) > MAX_REASON:
        raise AssignmentError(f"The reason is {len(why)} characters; keep it under {MAX_REASON}.")
    with store.write() as con:
        plan, moving = _manual_plan(store, con, actor, lead_ids, rep_id, now)
        records = moving.select(
            pl.col("lead_id").cast(pl.Int64), pl.lit(rep_id, pl.Int64).alias("rep_id"),
            pl.col("owner_id").cast(pl.Int64).alias("previous_rep_id"), pl.lit("manual").alias("strategy"),
            pl.lit(f"manual by {actor.username}: {why}").alias("reason"))
        _write(store, con, records, records.clear(), now, actor.username)
    return {**plan, "assigned": moving.height}


# ---------------------------------------------------------------- routing data of a rep


ROUTING_EDITORS = ("manager", "admin")


def _clean_items(values: Iterable[str] | str | None, what: str, problems: list[str], lower: bool) -> list[str]:
    if values is None:
        return []
    items = values.split(",") if isinstance(values, str) else list(values)
    out: list[str] = []
    for raw in items:
        if not isinstance(raw, str):
            problems.append(f"each {what} must be text (got {raw!r})")
            continue
        item = raw.strip().lower() if lower else raw.strip()
        if "," in item:
            problems.append(f"{what} {item!r} has a comma; give each {what} separately")
        elif len(item) > MAX_SKILL:
            problems.append(f"{what} {item[:20]!r}... is over {MAX_SKILL} characters")
        elif item and item.lower() not in {x.lower() for x in out}:
            out.append(item)
    return out


def _clean_days(working_days: Iterable[str] | str | None, problems: list[str]) -> list[str]:
    items = working_days.split(",") if isinstance(working_days, str) else list(working_days or [])
    days = []
    for raw in items:
        d = str(raw).strip().lower()[:3]
        if d not in DAYS:
            problems.append(f"{str(raw).strip()!r} is not a day; use {', '.join(DAYS)}")
        elif d not in days:
            days.append(d)
    if not days and not problems:
        problems.append("pick at least one working day (or make the rep inactive)")
    return sorted(days, key=DAYS.index)


def routing_table(store: Store, actor: Actor) -> pl.DataFrame:
    """The sellers in the actor's scope with their skills, cap, working days and territory ids (for the editor)."""
    return store.frame("assignment_routing_table", **actor.scope_params())


def territories(store: Store) -> pl.DataFrame:
    """Every territory with its region (territory_id, territory, region_id, region)."""
    return store.frame("assignment_territories")


def set_rep_routing(store: Store, actor: Actor, rep_id: int, verticals: Iterable[str] | str | None,
                    languages: Iterable[str] | str | None, max_open_leads: int | None,
                    working_days: Iterable[str] | str | None, territory_ids: Iterable[int],
                    now: datetime) -> dict[str, Any]:
    """Replace a rep's routing data (managers for their team's reps, admins any), validated and audited;
    returns what was saved."""
    if actor.role not in ROUTING_EDITORS:
        raise AccessDenied(f"A {actor.role} may not change routing data; ask a manager or an admin.")
    problems: list[str] = []
    clean_verticals = _clean_items(verticals, "vertical", problems, lower=False)
    clean_languages = _clean_items(languages, "language", problems, lower=True)
    days = _clean_days(working_days, problems)
    if max_open_leads is not None and not (isinstance(max_open_leads, int) and not isinstance(max_open_leads, bool)
                                           and 0 <= max_open_leads <= MAX_CAP):
        problems.append(f"the cap on open leads must be a whole number from 0 to {MAX_CAP}, or empty for no cap "
                        f"(got {max_open_leads!r})")
    try:
        territories = sorted({int(t) for t in territory_ids})
    except (TypeError, ValueError):
        problems.append("territories must be territory ids")
        territories = []
    with store.write() as con:
        reps = store.frame("assignment_rep", con, rep_id=rep_id)
        if reps.is_empty():
            raise AssignmentError(f"There is no rep {rep_id}.")
        rep = reps.row(0, named=True)
        if not actor.sees_all and rep_id not in (actor.scope_reps or ()):
            raise AccessDenied(f"{rep['name']} is not on your team; a manager edits their own team's routing data.")
        known = store.frame("assignment_territories_by_id", con, territory_ids=territories) if territories \
            else pl.DataFrame(schema={"territory_id": pl.Int32, "territory": pl.String, "region_id": pl.Int32})
        unknown = sorted(set(territories) - set(known["territory_id"].to_list()))
        if unknown:
            problems.append(f"there is no territory {', '.join(map(str, unknown))}")
        elsewhere = known.filter(pl.col("region_id") != rep["team_region_id"]) \
            if rep["team_region_id"] is not None else known
        if not elsewhere.is_empty():
            where = "has no team region" if rep["team_region_id"] is None else "covers its team's region only"
            problems.append(f"{', '.join(elsewhere['territory'].to_list())} "
                            f"{'is' if elsewhere.height == 1 else 'are'} outside the rep's region ({rep['name']} {where})")
        if problems:
            raise AssignmentError("The routing data was not saved: " + "; ".join(problems) + ".")
        before = {"verticals": rep["verticals"], "languages": rep["languages"], "max_open_leads": rep["max_open_leads"],
                  "working_days": rep["working_days"],
                  "territory_ids": store.frame("assignment_rep_territory_ids", con, rep_id=rep_id)["territory_id"]
                  .to_list()}
        after = {"verticals": ",".join(clean_verticals) or None, "languages": ",".join(clean_languages) or None,
                 "max_open_leads": max_open_leads, "working_days": ",".join(days), "territory_ids": territories}
        store.run("assignment_rep_routing_update", con, rep_id=rep_id, verticals=after["verticals"],
                  languages=after["languages"], max_open_leads=max_open_leads, working_days=after["working_days"])
        store.run("assignment_rep_territories_delete", con, rep_id=rep_id)
        if territories:
            store.run("assignment_rep_territories_insert", con, rep_id=rep_id, territory_ids=territories)
        audit.record(con, actor.username, "update", "rep_routing", rep_id, now, before=before, after=after,
                     reason="routing data edited")
    return {"rep_id": rep_id, "rep": rep["name"], **after}


# ---------------------------------------------------------------- the map


def territory_map(store: Store, actor: Actor) -> pl.DataFrame:
    """frame(city, lat, lon, territory, region, open_leads, reps_covering, covering_reps, territory_id,
    region_id): the cities of the actor's regions (a manager's teams', a rep's team's; everything for the
    others), the open leads there they may see and the sellers in their scope covering each territory."""
    with store.read() as con:
        if actor.sees_all:
            regions: list[int] = []
        else:
            teams = _own_team_ids(store, con, actor)
            all_teams = store.frame("assignment_teams", con)
            regions = all_teams.filter(pl.col("team_id").is_in(list(teams)))["region_id"].drop_nulls().to_list()
        return store.frame("assignment_map", con, all_regions=actor.sees_all, region_ids=regions,
                           **actor.scope_params())


# ---------------------------------------------------------------- fairness


FAIRNESS_SCHEMA = {
    "rep_id": pl.Int64, "rep": pl.String, "team": pl.String, "weight": pl.Float64, "expected_share": pl.Float64,
    "assigned": pl.Int64, "actual_share": pl.Float64, "share_gap": pl.Float64, "mean_score": pl.Float64,
    "high_band_share": pl.Float64, "open_leads": pl.Int64, "cap": pl.Int64,
}


def fairness_table(sellers: pl.DataFrame, given: pl.DataFrame) -> pl.DataFrame:
    """Shares against weights, per team. sellers(rep_id, rep, team_id, team, active, weight, open_leads, cap):
    the reps to show; given(rep_id, assigned, mean_score, scored, banded, high_band). A rep's expected share
    is their weight over the weights of the team's active sellers; the actual share, their leads over the
    team's."""
    joined = sellers.join(given.with_columns(pl.col("rep_id").cast(sellers.schema["rep_id"])), on="rep_id",
                          how="left")
    weight = pl.when(pl.col("active")).then(pl.col("weight")).otherwise(None)
    assigned = pl.col("assigned").fill_null(0)
    team_weight = weight.sum().over("team_id")
    team_assigned = assigned.sum().over("team_id")
    out = joined.with_columns(weight.alias("weight"), assigned.alias("assigned")).with_columns(
        pl.when(pl.col("weight").is_not_null() & (team_weight > 0)).then(pl.col("weight") / team_weight)
        .otherwise(0.0).alias("expected_share"),
        pl.when(team_assigned > 0).then(pl.col("assigned") / team_assigned).otherwise(None).alias("actual_share"),
        pl.when(pl.col("scored") > 0).then(pl.col("mean_score")).otherwise(None).alias("mean_score"),
        pl.when(pl.col("banded") > 0).then(pl.col("high_band") / pl.col("banded")).otherwise(None)
        .alias("high_band_share"),
    ).with_columns((pl.col("actual_share") - pl.col("expected_share")).alias("share_gap"))
    return out.select(pl.col(k).cast(v) for k, v in FAIRNESS_SCHEMA.items()).sort(["team", "rep_id"])


def fairness(store: Store, actor: Actor, start: date, end: date, team_id: int | None = None) -> pl.DataFrame:
    """frame(rep_id, rep, team, weight, expected_share, assigned, actual_share, share_gap, mean_score,
    high_band_share, open_leads, cap): leads given to each seller from `start` to `end` (inclusive) and their
    quality (mean score, share in the high band; null when none is scored) against the share their weight
    (as of `end`) leads one to expect. A manager sees their teams, a rep their own row."""
    if end < start:
        raise AssignmentError(f"The period ends ({end}) before it starts ({start}).")
    d0 = datetime.combine(start, datetime.min.time())
    d1 = datetime.combine(end + timedelta(days=1), datetime.min.time())
    with store.read() as con:
        if team_id is not None and not actor.sees_all and actor.role == "manager" \
                and team_id not in _managed_team_ids(store, con, actor):
            raise AccessDenied("A manager reads the fairness of the teams they manage only.")
        policies = stored_policies(store, con)
        reps = _weights_and_counts(store, con, store.frame("assignment_reps", con), policies, d1)
        given = store.frame("assignment_fairness_assigned", con, d0=d0, d1=d1)
        teams = store.frame("assignment_teams", con)
    sellers = reps.filter(~pl.col("title").is_in(SELLER_EXCLUDED_TITLES) & pl.col("team_id").is_not_null()) \
        .join(teams.select(pl.col("team_id").cast(reps.schema["team_id"]), "team"), on="team_id", how="left") \
        .join(given.select(pl.col("rep_id").cast(pl.Int32), pl.lit(True).alias("got")), on="rep_id", how="left") \
        .filter(pl.col("active") | pl.col("got").fill_null(False)) \
        .with_columns(pl.struct("max_open_leads", "working_days").map_elements(
            lambda r: capacity(r["max_open_leads"], parse_days(r["working_days"])), return_dtype=pl.Int64)
            .alias("cap")) \
        .select("rep_id", pl.col("name").alias("rep"), "team_id", "team", "active", "weight", "open_leads", "cap")
    if team_id is not None:
        sellers = sellers.filter(pl.col("team_id") == team_id)
    out = fairness_table(sellers, given)
    if not actor.sees_all:
        out = out.filter(pl.col("rep_id").is_in(list(actor.scope_reps or ())))
    return out
