"""Admin → Audit trail: the latest records."""

from __future__ import annotations

from flashdash import admin
from flashdash.access import Actor
from flashdash.ui import components as ui
from flashdash.ui.store import cached


def render(actor: Actor) -> None:
    ui.table(cached(admin.overview, actor)["audit"], "audit_log", key="admin.audit")
