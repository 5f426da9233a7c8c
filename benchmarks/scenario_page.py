"""Scenarios tab benchmark: python -m benchmarks.scenario_page --scale S [--db PATH | --as-of ISO] [--roles manager,admin]
[--changes 20].

On a demo store of the scale (data/bench-scenarios-<scale>.duckdb, built as of --as-of if missing, with the demo
logins; or --db), as of its demo date, for each role: renders the Revenue page on its Scenarios tab with Streamlit's
AppTest as that signed-in user (cold: empty caches, so the scenario base is simulated), renders it once more (warm),
then moves one slider at a time (a seeded random lever to a random other step, as a person dragging would) and times
each whole rerun of the page: the sidebar, the header and the tab, the base read from the cache and the scenario
recomputed from it. That is what one slider change costs the server; the issue's limit is 300 ms at scale S.
Prints the cold and warm renders and p50, p95 and max over the changes. Nothing is written to the store.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.testing.v1 import AppTest

from benchmarks import stores
from benchmarks.timing import DISCOVERY
from flashdash import access, clock
from flashdash.store import Store
from flashdash.ui import scenario_panel

ROOT = Path(__file__).resolve().parent.parent
STEPS = list(range(-50, 51, scenario_panel.STEP))



def run(at: AppTest) -> float:
    """Seconds one rerun of the page takes, without the component scan; fails loudly on an exception in it."""
    DISCOVERY["seconds"] = 0.0
    t0 = time.perf_counter()
    at.run()
    spent = time.perf_counter() - t0 - DISCOVERY["seconds"]
    if at.exception:
        raise SystemExit(f"The Scenarios tab raised: {at.exception[0].value}")
    return spent


def page(role: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / access.PAGE_BY_KEY["revenue"].path), default_timeout=600)
    at.session_state["rev.tab"] = "Scenarios"
    at.session_state["authentication_status"] = True
    at.session_state["username"] = role
    return at


def changes(at: AppTest, n: int, seed: int) -> list[float]:
    """n slider changes, each timed as the page's whole rerun."""
    rng = np.random.default_rng(seed)
    levers = list(scenario_panel.LEVERS)
    seconds = []
    for _ in range(n):
        slider = at.slider(key=f"{scenario_panel.KEY}.{levers[int(rng.integers(len(levers)))]}")
        slider.set_value(int(rng.choice([s for s in STEPS if s != slider.value])))
        seconds.append(run(at))
    return seconds


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"p50 {statistics.median(ordered) * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, max {ordered[-1] * 1e3:.0f} ms "
            f"(n {len(ordered)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--db", help="an existing demo store (with the demo logins) instead of "
                                     "data/bench-scenarios-<scale>.duckdb")
    parser.add_argument("--as-of", help="when a store built here ends (ISO; default now)")
    parser.add_argument("--roles", default="manager,admin", help="demo users to render as, comma-separated")
    parser.add_argument("--changes", type=int, default=20, help="slider changes timed per role")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.db:
        path = Path(args.db)
        store = Store(path)
    else:
        path = ROOT / "data" / f"bench-scenarios-{args.scale}.duckdb"
        as_of = datetime.fromisoformat(args.as_of) if args.as_of else clock.now().replace(second=0)
        store = stores.build(path, args.scale, as_of, logins=True)
    store.ensure_schema()
    now = store.scalar("setting", key="demo_as_of") or clock.now().isoformat()
    os.environ.update(FLASHDASH_DB=str(path), FLASHDASH_NOW=now)  # the page's clock is the store's demo date
    os.environ.setdefault("FLASHDASH_COOKIE_KEY", "benchmark")
    print(f"\nStore {path}, {store.scalar('count_leads'):,} leads, as of {now[:16]}; {os.cpu_count()} cores, "
          f"{datetime.now():%Y-%m-%d %H:%M}")
    for role in args.roles.split(","):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = page(role)
        cold, warm = run(at), run(at)
        print(f"{role:<10} cold render {cold:.2f} s (the base simulated), warm {warm * 1e3:.0f} ms; per slider change "
              f"{_ms(changes(at, args.changes, args.seed))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
