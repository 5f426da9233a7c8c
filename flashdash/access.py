"""Who may see what: the acting user, their row scope, and the pages of each role.

Row-level visibility is enforced here and in the SQL macros (scope_all / scope_reps), never by
hiding widgets: rep sees their own book, manager their teams', analyst and executive everything
with contact details masked, admin everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from flashdash.store import Store


class AccessDenied(PermissionError):
    """The acting user may not do or see this; the message says why."""


@dataclass(frozen=True)
class Actor:
    """The acting user, resolved once per request."""

    username: str
    name: str
    role: str
    rep_id: int | None = None
    scope_reps: tuple[int, ...] | None = None  # None: every rep's rows

    @property
    def sees_all(self) -> bool:
        return self.scope_reps is None

    @property
    def masks_pii(self) -> bool:
        return self.role in ("analyst", "executive")

    def scope_params(self) -> dict[str, Any]:
        return {"scope_all": self.sees_all, "scope_reps": list(self.scope_reps or ())}


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    path: str
    icon: str
    roles: tuple[str, ...]
    section: str


_ALL = ("rep", "manager", "analyst", "executive", "admin")

# In navigation order: the v1.0 dashboards, then one page per later phase, then Admin.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("executive", "Executive summary", "pages/executive.py", ":material/insights:",
             ("manager", "analyst", "executive", "admin"), "Dashboards"),
    PageSpec("submissions", "Submission tracking", "pages/submissions.py", ":material/inbox:",
             ("rep", "manager", "analyst", "admin"), "Dashboards"),
    PageSpec("scoreboard", "Rep scoreboard", "pages/scoreboard.py", ":material/leaderboard:", _ALL, "Dashboards"),
    PageSpec("interest", "Interest levels", "pages/interest.py", ":material/local_fire_department:", _ALL,
             "Dashboards"),
    PageSpec("funnel", "Sales funnel", "pages/funnel.py", ":material/filter_alt:", _ALL, "Dashboards"),
    PageSpec("predictive", "Predictive foundation", "pages/predictive.py", ":material/model_training:",
             ("manager", "analyst", "admin"), "Dashboards"),
    PageSpec("leads", "Leads", "pages/leads.py", ":material/person_search:", ("rep", "manager", "analyst", "admin"),
             "Work"),
    PageSpec("activities", "Activities", "pages/activities.py", ":material/call:",
             ("rep", "manager", "analyst", "admin"), "Work"),
    PageSpec("revenue", "Revenue", "pages/revenue.py", ":material/payments:", _ALL, "Work"),
    PageSpec("customers", "Customers", "pages/customers.py", ":material/storefront:",
             ("manager", "analyst", "executive", "admin"), "Work"),
    PageSpec("intelligence", "Intelligence", "pages/intelligence.py", ":material/psychology:",
             ("manager", "analyst", "executive", "admin"), "Work"),
    PageSpec("admin", "Admin", "pages/admin.py", ":material/admin_panel_settings:", ("admin",), "Settings"),
)
PAGE_BY_KEY = {p.key: p for p in PAGES}
LANDING = {"rep": "submissions", "manager": "scoreboard", "analyst": "predictive", "executive": "executive",
           "admin": "admin"}


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]


def can_open(actor: Actor | None, page_key: str) -> bool:
    return actor is not None and actor.role in PAGE_BY_KEY[page_key].roles


def resolve_actor(store: Store, username: str) -> Actor:
    """The Actor for a username, with the reps whose rows they may see."""
    users = store.frame("user_by_username", username=username)
    if users.is_empty():
        raise AccessDenied(f"There is no user named {username!r}.")
    user = users.row(0, named=True)
    if not user["active"]:
        raise AccessDenied(f"The account {username!r} is disabled; ask an admin to re-enable it.")
    role, rep_id = user["role"], user["rep_id"]
    scope: tuple[int, ...] | None
    if role == "rep":
        scope = (rep_id,) if rep_id is not None else ()
    elif role == "manager":
        team = store.frame("reps_managed_by", manager_rep_id=rep_id) if rep_id is not None else pl.DataFrame()
        scope = tuple(sorted(set(team["id"].to_list()) | ({rep_id} if rep_id is not None else set()))) \
            if not team.is_empty() else ((rep_id,) if rep_id is not None else ())
    else:
        scope = None
    return Actor(username=username, name=user["name"], role=role, rep_id=rep_id, scope_reps=scope)


PII_COLUMNS = ("contact_name", "email", "phone")


def mask_pii(frame: pl.DataFrame, actor: Actor) -> pl.DataFrame:
    """Replace contact fields with a mask for roles that must not read them."""
    if not actor.masks_pii:
        return frame
    cols = [c for c in PII_COLUMNS if c in frame.columns]
    return frame.with_columns(
        [pl.when(pl.col(c).is_not_null()).then(pl.lit("•••")).otherwise(None).alias(c) for c in cols]
    )


def managed_teams(store: Store, con: Any, actor: Actor) -> list[int]:
    """The teams the actor leads (teams.manager_id is their rep record); none without a rep record."""
    if actor.rep_id is None:
        return []
    return store.frame("teams_managed", con, rep_id=actor.rep_id)["id"].to_list()


def require_team_editor(store: Store, con: Any, actor: Actor, team_id: int | None, what: str,
                        store_wide: str) -> None:
    """A team's settings (`what`: "task rules", "sequences", ...) are changed by the team's manager or an admin,
    the store-wide ones by an admin only (`store_wide`: what only an admin does, e.g. "changes the default task
    rules"). AccessDenied saying why for anyone else."""
    if actor.role == "admin":
        return
    if actor.role != "manager":
        raise AccessDenied(f"A {actor.role} may not change {what}; ask a manager or an admin.")
    if team_id is None:
        raise AccessDenied(f"Only an admin {store_wide}; a manager changes their own team's {what}.")
    managed = managed_teams(store, con, actor)
    if team_id not in managed:
        teams = "team " + ", ".join(map(str, managed)) if managed else "no team"
        raise AccessDenied(f"You manage {teams}, not team {team_id}: a manager changes only their own team's "
                           f"{what}.")
