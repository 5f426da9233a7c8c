"""Reads behind the later-phase pages as they stand today: lead book, activity log, pipeline, customers."""

from __future__ import annotations

from typing import Any

import polars as pl

from flashdash.access import Actor, mask_pii
from flashdash.filters import Filters
from flashdash.store import Store

LIST_LIMIT = 500


def lead_book(store: Store, actor: Actor, filters: Filters, search: str = "") -> dict[str, pl.DataFrame]:
    params = {**filters.params(actor), "search": search.strip(), "limit": LIST_LIMIT}
    with store.read() as con:
        leads = store.frame("leads_list", con, **params)
        counts = store.frame("leads_status_counts", con, **params)
    return {"leads": mask_pii(leads, actor), "status_counts": counts}


def activity_log(store: Store, actor: Actor, filters: Filters) -> dict[str, pl.DataFrame]:
    params = {**filters.params(actor), "limit": LIST_LIMIT}
    with store.read() as con:
        return {"recent": store.frame("activities_recent", con, **params),
                "by_type": store.frame("activities_by_type_week", con, **params)}


def pipeline(store: Store, actor: Actor, filters: Filters) -> dict[str, pl.DataFrame]:
    params: dict[str, Any] = filters.params(actor)
    with store.read() as con:
        return {"by_stage": store.frame("pipeline_by_stage", con, **params),
                "won_lost": store.frame("won_lost_by_month", con, **params),
                "loss_reasons": store.frame("loss_reasons", con, **params)}


def customer_book(store: Store, actor: Actor, filters: Filters) -> dict[str, pl.DataFrame]:
    params = {**filters.params(actor), "limit": LIST_LIMIT}
    with store.read() as con:
        return {"usage": store.frame("customers_usage_weekly", con, **params),
                "customers": store.frame("customers_list", con, **params)}
