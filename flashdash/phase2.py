"""Phase 2's targets, measured: 40% less manual data entry, 35% better follow-up compliance and 20% higher
email engagement.

Each target is a figure now, the baseline it is compared with, the relative change and whether the change
reaches the target, always with the number of activities, tasks or emails behind each side (a change on a
dozen tasks is an early sign, not a finding):

- manual data entry: fields typed per logged activity with a template against without one, in the period
  (activities.data_entry); change = with / without - 1, target -40%. Activities without fields_typed (demo
  data, imports, CSV, sequences) are left out and counted;
- follow-up compliance: the share of tasks due in the period done on time (tasks.compliance) against the same
  share in the previous period of equal length; target +35%;
- email engagement: open and click rates of the emails sent in the period (mail.rates) against the previous
  period of equal length; target +20% each. Opens are a lower bound (clients that block images hide them).

A change needs a baseline above zero: against none, or against 0, there is no relative change to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from flashdash import activities, mail, tasks
from flashdash.access import Actor
from flashdash.store import Store

MIN_N = 30  # fewer on either side: the change is shown as an early sign, not a finding
MET, NOT_MET, NO_BASELINE, NO_FIGURE = "met", "not met", "no baseline", "nothing measured"


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    measure: str  # what the figure is
    target: float  # the relative change aimed at: -0.40 is 40% lower, 0.35 is 35% higher
    current_label: str
    baseline_label: str
    unit: str  # "n" (a count per activity) or "share"
    counted: str  # what n counts


TARGETS = (
    Target("data_entry", "Manual data entry", "fields typed per logged activity", -0.40, "with a template",
           "without a template", "n", "activities"),
    Target("compliance", "Follow-up compliance", "share of tasks done on time", 0.35, "this period",
           "previous period", "share", "tasks due"),
    Target("open_rate", "Email opens", "share of sent emails opened", 0.20, "this period", "previous period",
           "share", "emails sent"),
    Target("click_rate", "Email clicks", "share of sent emails clicked", 0.20, "this period", "previous period",
           "share", "emails sent"),
)
TARGET_BY_KEY = {t.key: t for t in TARGETS}
SCHEMA = {"key": pl.String, "label": pl.String, "measure": pl.String, "current": pl.Float64,
          "baseline": pl.Float64, "change": pl.Float64, "target": pl.Float64, "needed": pl.Float64,
          "status": pl.String, "few": pl.Boolean, "n_current": pl.Int64, "n_baseline": pl.Int64,
          "current_label": pl.String, "baseline_label": pl.String, "unit": pl.String, "counted": pl.String}


# ---------------------------------------------------------------- the arithmetic (pure)


def relative_change(current: float | None, baseline: float | None) -> float | None:
    """current / baseline - 1; None without both figures or with a zero baseline (no change to speak of)."""
    if current is None or baseline is None or baseline == 0:
        return None
    return current / baseline - 1


def judge(current: float | None, baseline: float | None, target: float) -> str:
    """MET when the relative change reaches the target (a negative target: falls at least that far), NOT_MET
    when it does not, NO_FIGURE without a current figure, NO_BASELINE without a baseline above zero."""
    if current is None:
        return NO_FIGURE
    change = relative_change(current, baseline)
    if change is None:
        return NO_BASELINE
    reached = change <= target if target < 0 else change >= target
    return MET if reached else NOT_MET


def needed(baseline: float | None, target: float, unit: str) -> float | None:
    """The figure that meets the target against this baseline (a share is capped at 100%)."""
    if baseline is None or baseline == 0:
        return None
    level = baseline * (1 + target)
    return min(level, 1.0) if unit == "share" else level


def figure(target: Target, current: float | None, baseline: float | None, n_current: int,
           n_baseline: int) -> dict[str, Any]:
    """One target's row (SCHEMA)."""
    return {"key": target.key, "label": target.label, "measure": target.measure, "current": current,
            "baseline": baseline, "change": relative_change(current, baseline), "target": target.target,
            "needed": needed(baseline, target.target, target.unit),
            "status": judge(current, baseline, target.target), "few": min(n_current, n_baseline) < MIN_N,
            "n_current": n_current, "n_baseline": n_baseline, "current_label": target.current_label,
            "baseline_label": target.baseline_label, "unit": target.unit, "counted": target.counted}


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of equal length just before [start, end] (inclusive days)."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def email_totals(by_rep: pl.DataFrame) -> dict[str, Any]:
    """Sent, opened and clicked over every group of a mail.rates frame (each email is in exactly one group),
    and the open and click rates (None when nothing was sent)."""
    sent, opened, clicked = (int(by_rep[c].sum()) if not by_rep.is_empty() else 0
                             for c in ("sent", "opened", "clicked"))
    return {"sent": sent, "opened": opened, "clicked": clicked, "open_rate": opened / sent if sent else None,
            "click_rate": clicked / sent if sent else None}


def _entry_sides(entry: dict[str, Any]) -> tuple[float | None, float | None, int, int]:
    rows = {r["template_use"]: r for r in entry["frame"].iter_rows(named=True)}
    with_, without = rows["with a template"], rows["without a template"]
    return (with_["mean_fields_typed"], without["mean_fields_typed"], int(with_["activities"]),
            int(without["activities"]))


# ---------------------------------------------------------------- the read


def measures(store: Store, actor: Actor, start: date, end: date, now: datetime) -> dict[str, Any]:
    """Phase 2's measures for the days [start, end] in the actor's scope, against the previous period of equal
    length where the target is over time: {"targets" (SCHEMA, one row per TARGETS), "data_entry" (the
    period's activities.data_entry), "compliance" and "compliance_before" (tasks.compliance of each period),
    "email" and "email_before" (email_totals), "rates" (mail.rates by template, sequence and rep in the
    period), "period" and "baseline_period" (start, end)}."""
    before = previous_period(start, end)
    entry = activities.data_entry(store, actor, datetime.combine(start, time()),
                                  datetime.combine(end, time()) + timedelta(days=1))
    now_c, before_c = (tasks.compliance(store, actor, s, e, now) for s, e in ((start, end), before))
    rates = {by: mail.rates(store, actor, start, end, by) for by in mail.RATE_GROUPS}
    email_now, email_before = email_totals(rates["rep"]), email_totals(mail.rates(store, actor, *before, "rep"))
    with_, without, n_with, n_without = _entry_sides(entry)
    rows = [
        figure(TARGET_BY_KEY["data_entry"], with_, without, n_with, n_without),
        figure(TARGET_BY_KEY["compliance"], now_c["rate"], before_c["rate"], now_c["due"], before_c["due"]),
        *(figure(TARGET_BY_KEY[k], email_now[k], email_before[k], email_now["sent"], email_before["sent"])
          for k in ("open_rate", "click_rate")),
    ]
    return {"targets": pl.DataFrame(rows, schema=SCHEMA), "data_entry": entry, "compliance": now_c,
            "compliance_before": before_c, "email": email_now, "email_before": email_before, "rates": rates,
            "period": (start, end), "baseline_period": before}
