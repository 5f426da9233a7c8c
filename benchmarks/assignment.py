"""Assignment benchmark: python -m benchmarks.assignment [--scale S] [--leads 1000] [--repeat 3] [--db PATH].

Builds a demo store of the scale (or uses --db), adds N new unowned leads shaped like the store's own
(seeded sample of their vertical, city, region, language, ...), and times `assignment.assign` routing all
of them in one write unit of work, twice: under the default policy with the demo's caps (most demo sellers
already sit near their cap, so many leads stay unassigned, each with its record), and with caps not
enforced (every lead gets an owner, the most writes). Each run starts from a fresh copy; the median of
`--repeat` runs is printed, with the part spent in SQL at the store's choke point.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

from benchmarks import stores
from flashdash import assignment, store
from flashdash.access import Actor
from flashdash.store import Store, copy_file

NOW = datetime(2026, 6, 30, 12, 0)  # a Tuesday: every demo seller works
ADMIN = Actor("admin", "Ada Admin", "admin")

# Benchmark set-up only: new leads copied from a seeded sample of the store's own.
NEW_LEADS = """
INSERT INTO leads (id, merchant_name, vertical, company_size, monthly_volume, city, region_id, channel, campaign,
                   landing_page, interest_level, submitted_at, status, status_changed_at, language)
SELECT nextval('leads_id_seq'), merchant_name, vertical, company_size, monthly_volume, city, region_id, channel,
       campaign, landing_page, interest_level, ?::TIMESTAMP - to_seconds(k), 'new', ?::TIMESTAMP - to_seconds(k),
       language
FROM (SELECT *, row_number() OVER (ORDER BY hash(id, 7)) AS k FROM leads ORDER BY hash(id, 7) LIMIT ?)
"""


def prepared(base: Store, work: Path, leads: int, enforce_caps: bool) -> Store:
    """A fresh copy of the store with `leads` new unowned leads (and caps lifted unless enforced)."""
    copy_file(base.path, work)
    s = Store(work)
    with s.write() as con:
        con.execute(NEW_LEADS, [NOW, NOW, leads]).fetchall()
    if not enforce_caps:
        assignment.save_policy(s, ADMIN, None, list(assignment.DEFAULT_STRATEGIES), {"respect_caps": False}, NOW)
    return s


def run_once(s: Store) -> tuple[float, float, float, pl.DataFrame]:
    """(seconds in assign, seconds with the commit, seconds in SQL, the decisions)."""
    store.QUERY_LOG.clear()
    t0 = time.perf_counter()
    with s.write() as con:
        out = assignment.assign(s, con, None, NOW)
        t_assign = time.perf_counter() - t0
    t_total = time.perf_counter() - t0
    return t_assign, t_total, sum(q.seconds for q in store.QUERY_LOG), out


def scenario(base: Store, tmp: Path, leads: int, repeat: int, enforce_caps: bool) -> None:
    runs = []
    out = pl.DataFrame()
    for i in range(repeat):
        s = prepared(base, tmp / f"run-{enforce_caps}-{i}.duckdb", leads, enforce_caps)
        *times, out = run_once(s)
        runs.append(times)
        s.path.unlink()
    t_assign, t_total, t_sql = (statistics.median(r[k] for r in runs) for k in range(3))
    given = out.filter(pl.col("rep_id").is_not_null()).height
    by = out.group_by("strategy").len().sort("len", descending=True)
    label = "default policy, demo caps" if enforce_caps else "caps not enforced"
    print(f"\n{label}: {out.height:,} leads routed, {given:,} assigned, {out.height - given:,} left unassigned")
    print(f"  assign            {t_assign:6.3f} s   ({t_assign / max(out.height, 1) * 1000:.2f} ms per lead)")
    print(f"  with the commit   {t_total:6.3f} s")
    print(f"  of which SQL      {t_sql:6.3f} s   (store queries: org snapshot, updates, records)")
    print("  strategy (that decided, or left nobody): " + ", ".join(f"{k} {v:,}" for k, v in by.iter_rows()))
    sample = out.filter(pl.col("rep_id").is_not_null()).head(1)["reason"].to_list() or out.head(1)["reason"].to_list()
    print(f"  e.g. {sample[0] if sample else '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--leads", type=int, default=1000, help="new unowned leads to assign")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median reported)")
    parser.add_argument("--db", help="a demo store to start from (it is copied, never changed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-assign-") as d:
        tmp = Path(d)
        base = Store(args.db) if args.db else stores.build(tmp / f"base-{args.scale}.duckdb", args.scale, NOW)
        n = base.scalar("count_leads")
        print(f"Store {base.path}: {n:,} leads; {args.leads:,} new leads; {os.cpu_count()} cores; "
              f"as of {NOW:%Y-%m-%d %H:%M} ({NOW:%A})")
        scenario(base, tmp, args.leads, args.repeat, enforce_caps=True)
        scenario(base, tmp, args.leads, args.repeat, enforce_caps=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
