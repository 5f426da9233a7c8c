"""What follows a change to a lead, inside the write that made it: the tasks its team's rules owe (a lead
entering SQL owes a discovery call, a demo owes a proposal) and the pause of its sequences when something in
their pause_on happened (a reply, a stage change, a meeting).

Every path that changes a lead calls it: a logged activity, a new or imported lead and a rule's stage move (all
through leads.arrived), a stage change by hand (qualification.change_stage), the qualification job, a reply
ingested from the tracking service. The scheduler's rule and sequence jobs catch whatever a hook missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flashdash import sequences, tasks
from flashdash.store import Store


def after_change(store: Store, con: Any, lead_ids: Iterable[int], now: datetime) -> dict[str, int]:
    """Make the rules' tasks and pause the sequences these leads' recent events call for; returns the counts."""
    ids = sorted({int(i) for i in lead_ids})
    if not ids:
        return {"tasks": 0, "paused": 0}
    made = tasks.apply_rules(store, con, ids, now, now - tasks.RULES_WINDOW)
    paused = sequences.pause_if_needed(store, con, ids, now)
    return {"tasks": made.height, "paused": paused.height}
