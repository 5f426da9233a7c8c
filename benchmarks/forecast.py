"""Forecast benchmark: python -m benchmarks.forecast --scale S [--changes 50] [--db PATH | --as-of ISO].

On a demo store of the scale (data/bench-forecast-<scale>.duckdb, built as of --as-of if missing; or --db), as of its
demo date:
- the company-wide backtest (revenue candidates, pipeline, blend; rolling origin) and its figures;
- the forecast shown (the chosen revenue model, the pipeline simulation and their blend, without a backtest);
- the pipeline simulation alone (learning the win and close models, drawing), and quota attainment;
- the scenario base, then N slider changes (seeded random levers), each timed: p50, p95, max;
- the process's peak memory.
Nothing is written to the store.
"""

from __future__ import annotations

import argparse
import resource
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks import stores
from benchmarks.timing import spread, timed
from flashdash import clock
from flashdash import forecast as fc
from flashdash.access import resolve_actor
from flashdash.store import Store

ROOT = Path(__file__).resolve().parent.parent




def slider_changes(base: fc.Plan, n: int, seed: int = 1) -> list[float]:
    """n scenarios, each moving one lever to a random value in range (as a person dragging sliders would)."""
    rng = np.random.default_rng(seed)
    levers = {k: 1.0 for k in fc.LEVERS}
    seconds = []
    for _ in range(n):
        lever = fc.LEVERS[int(rng.integers(len(fc.LEVERS)))]
        levers[lever] = round(float(rng.uniform(fc.LEVER_MIN, fc.LEVER_MAX)), 2)
        spent, _ = timed(lambda: fc.scenario(base, dict(levers)))
        seconds.append(spent)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--db", help="an existing demo store to use instead of data/bench-forecast-<scale>.duckdb")
    parser.add_argument("--as-of", help="when a store built here ends (ISO; default now)")
    parser.add_argument("--changes", type=int, default=50, help="slider changes timed")
    args = parser.parse_args(argv)

    if args.db:
        store = Store(Path(args.db))
    else:
        as_of = datetime.fromisoformat(args.as_of) if args.as_of else clock.now().replace(second=0)
        store = stores.build(ROOT / "data" / f"bench-forecast-{args.scale}.duckdb", args.scale, as_of, logins=True)
    now = datetime.fromisoformat(store.scalar("setting", key="demo_as_of") or clock.now().isoformat())
    admin = resolve_actor(store, "admin")
    read_s, inputs = timed(lambda: fc.read_inputs(store, fc.COMPANY, now))
    open_deals = inputs.deals.filter(inputs.deals["closed_at"].is_null()).height
    print(f"\nStore {store.path}, {inputs.deals.height:,} deals ({open_deals:,} open), as of {now:%Y-%m-%d %H:%M}")
    print(f"Reading the deals               {read_s:.2f} s")

    backtest_s, bt = timed(lambda: fc.full_backtest(inputs, now))
    print(f"Backtest (every method)         {backtest_s:.2f} s over {bt['months']} months")
    if bt["status"] == "ok":
        figures = fc.backtest_figures(bt)
        print("  " + "\n  ".join(fc.evaluation_lines({"status": "ok", **figures})))
    forecast_s, shown = timed(lambda: fc.compute(inputs, now, run_backtest=False,
                                                  stored={"model": bt.get("model"), "weight": bt.get("weight"),
                                                          "chosen": bt.get("chosen")}))
    print(f"Forecast shown (no backtest)    {forecast_s:.2f} s ({shown['draws']:,} draws)")
    engine_s, engine = timed(lambda: fc.build_engine(inputs, now, 6))
    sim_s, _ = timed(lambda: fc.simulate(engine))
    print(f"Pipeline simulation             {engine_s:.2f} s to learn and draw, {sim_s * 1e3:.0f} ms to sum "
          f"({engine.draws:,} draws × {len(engine.open_p):,} open deals, {len(engine.months)} months)")
    quota_s, quota = timed(lambda: fc.quota_attainment(store, admin, now))
    print(f"Quota attainment (admin)        {quota_s:.2f} s ({quota.height} rows)")
    base_s, base = timed(lambda: fc.scenario_base(store, admin, now))
    print(f"Scenario base (admin)           {base_s:.2f} s")
    print(f"Scenario, per slider change     {spread(slider_changes(base, args.changes))}")
    manager = resolve_actor(store, "manager")
    team_s, team = timed(lambda: fc.scenario_base(store, manager, now))
    print(f"Scenario base (manager)         {team_s:.2f} s; per change {spread(slider_changes(team, args.changes))}")
    print(f"Peak memory                     {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
