"""How accurate the company-wide forecast has been, as every reader may see it: the backtest of the latest stored
forecast run (the refresh_forecast job) without the revenue amounts behind it.

A rep's or a manager's forecast is recomputed for their scope with the method and blend weight that this backtest
chose (forecast.latest_forecast), and is not backtested on its own; this read lets the page show them the record
behind that choice. It holds error shares and interval coverage per method, never a deal, a rep or an amount, so
it is the same for every role.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from flashdash.access import Actor
from flashdash.forecast import NOT_ENOUGH, stored_backtest
from flashdash.store import Store

KEYS = ("chosen", "chosen_label", "model", "weight", "figures", "backtest_status", "draws")


def company_backtest(store: Store, actor: Actor) -> dict[str, Any]:
    """The latest stored run's backtest: {"as_of", "computed_at", "chosen", "chosen_label", "model" (the revenue
    model), "weight" (the blend's), "figures" (the chosen method's one-month figures, see forecast.backtest_figures),
    "backtest" (forecast.metrics: model, horizon, months, mape, within_5pct, within_10pct, attainable_5pct,
    attainable_10pct, coverage_80, coverage_95, width_80, bias, label; see forecast.stored_backtest), "backtest_status", "draws"}; "as_of" None before the first run. The same for every
    actor (see the module docstring)."""
    del actor  # every role reads the same record: it holds no row of anyone's book
    run = store.frame("forecast_latest_run")
    if run.is_empty():
        return {"as_of": None, "computed_at": None, "backtest_status": NOT_ENOUGH, "figures": {},
                "backtest": pl.DataFrame()}
    row = run.row(0, named=True)
    payload = json.loads(row["payload"])
    metrics = stored_backtest(payload.get("backtest") or [])
    return {**{k: payload.get(k) for k in KEYS}, "figures": payload.get("figures") or {}, "backtest": metrics,
            "as_of": row["as_of"], "computed_at": row["computed_at"]}
