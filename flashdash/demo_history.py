"""The demo's Phase 2 history: the activity and email templates, and for the last HISTORY_DAYS days the tasks the
built-in rules made (and how they were done), the emails reps sent from the app with their opens, clicks and
replies, and how much of each logged activity was typed by hand.

Templates and rules "went live" GO_LIVE_DAYS before the demo's end, so that the Activities page's measures have
a before and an after: fewer fields typed with a template, more tasks done on time, more emails opened. These
are the demo's assumptions, not findings; the measures compute from the rows as they would from real ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flashdash import activities, mail
from flashdash.store import Store

HISTORY_DAYS = 180
GO_LIVE_DAYS = 90  # the sidebar's default period (last 90 days) is after it, the 90 days before it the baseline
RULES_LAG = timedelta(hours=24)  # the last day's rule tasks are the scheduler's to make (tasks.RULES_WINDOW)
TABLES = ("email_events", "emails", "tasks", "activity_templates", "email_templates")


def add(store: Store, con: Any, now: datetime, seed: int) -> dict[str, int]:
    """Inside the demo's write: the templates and the Phase 2 history; returns rows written per table."""
    go_live = now - timedelta(days=GO_LIVE_DAYS)
    since = now - timedelta(days=HISTORY_DAYS)
    for t in activities.STARTER_TEMPLATES:
        store.scalar("demo_history_activity_template", con, template_name=t["name"], type=t["type"],
                     duration_min=t["duration_min"], outcome=t["outcome"], notes=t["notes"],
                     next_step=t["next_step"], follow_up_days=t["follow_up_days"], go_live=go_live)
    for name, subject, body in mail.STARTERS:  # generated data, like the rest of the demo: not audited
        store.scalar("mail_template_insert", con, team_id=None, template_name=name, subject=subject, body=body,
                     active=True, updated_by="demo", updated_at=go_live)
    params = {"now": now, "since": since, "go_live": go_live, "seed": seed}
    store.run("demo_history_activity_entry", con, **params)
    store.run("demo_history_tasks", con, **params, cutoff=now - RULES_LAG)
    store.run("demo_history_emails", con, **params)
    store.run("demo_history_email_events", con, **params)
    for table in TABLES:
        store.advance_sequence(con, table)
    return {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]  # noqa: S608 (names above)
            for table in TABLES}
