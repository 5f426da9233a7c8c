"""Scoring benchmark: python -m benchmarks.scoring [--scale S] [--leads 300] [--repeat 3] [--db PATH].

Builds (or reuses, data/bench-scoring-<scale>.duckdb) a demo store as of 2026-06-30 12:00, works on a copy
with a models directory of its own (the store given is never changed), and times:

- train_all: the global conversion model and every vertical's, fitted, judged and saved with their cards;
- score_all + store_scores: every open lead scored and explained, lead_scores replaced in one write;
- rescore_lead on --leads open leads (a seeded sample), each in a write unit of work of its own as a request
  would make it: the call inside the open transaction (what a request adds to its write) and with the
  commit. The first call in the process reads the model files from disk and is reported apart (cold).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks import stores
from flashdash import predictive, scoring, store
from flashdash.store import Store, copy_file

NOW = datetime(2026, 6, 30, 12, 0)
ROOT = Path(__file__).resolve().parent.parent


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN202
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):6.1f} ms   p95 {np.percentile(ms, 95):6.1f} ms   max {ms.max():6.1f} ms"


def bench_training(s: Store, repeat: int) -> None:
    runs = [timed(scoring.train_all, s, NOW) for _ in range(repeat)]
    summary = runs[-1][1]
    used = ", ".join(summary["used_verticals"]) or "none"
    judged = sum(v["status"] == "ok" for v in summary["verticals"])
    print(f"\ntrain_all         {statistics.median(t for t, _ in runs):6.2f} s   (median of {repeat}; "
          f"{summary['train']['n']:,} training leads, {len(summary['verticals'])} verticals, {judged} with enough "
          f"history for a model, used: {used})")
    print(f"  AUC {summary['auc']:.3f}  ECE {summary['ece']:.3f}  Brier {summary['brier']:.4f}  "
          f"baseline AUC {summary['baseline_auc']:.3f}")


def bench_score_all(s: Store, repeat: int) -> None:
    compute, write = [], []
    rows = None
    for _ in range(repeat):
        t, rows = timed(scoring.score_all, s, NOW)
        compute.append(t)
        t0 = time.perf_counter()
        with s.write() as con:
            scoring.store_scores(s, con, rows)
        write.append(time.perf_counter() - t0)
    print(f"\nscore_all         {statistics.median(compute):6.2f} s   ({rows.height:,} open leads, "
          f"{rows.height / statistics.median(compute):,.0f} a second; median of {repeat})")
    print(f"store_scores      {statistics.median(write):6.2f} s   (lead_scores replaced in one write)")


def bench_rescore(s: Store, leads: int) -> None:
    with s.read() as con:
        ids = [i for (i,) in con.execute(
            "SELECT id FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity') ORDER BY hash(id, 11) LIMIT ?",
            [leads]).fetchall()]
    predictive._LOADED.clear()  # the first call reads the model files: a process's first request
    inside, total, sql = [], [], []
    for lead_id in ids:
        store.QUERY_LOG.clear()
        t0 = time.perf_counter()
        with s.write() as con:
            t1 = time.perf_counter()
            scoring.rescore_lead(s, con, lead_id, NOW)
            inside.append(time.perf_counter() - t1)
        total.append(time.perf_counter() - t0)
        sql.append(sum(q.seconds for q in store.QUERY_LOG))
    print(f"\nrescore_lead on {len(ids)} open leads, one write each (cold first call {inside[0] * 1000:.0f} ms, "
          "left out below)")
    print(f"  in the transaction   {percentiles(inside[1:])}")
    print(f"  of which SQL         {percentiles(sql[1:])}")
    print(f"  with open + commit   {percentiles(total[1:])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--leads", type=int, default=300, help="open leads to rescore one by one")
    parser.add_argument("--repeat", type=int, default=3, help="runs of train_all and score_all (median reported)")
    parser.add_argument("--db", help="a demo store to start from (it is copied, never changed)")
    args = parser.parse_args(argv)
    base = Store(args.db) if args.db else stores.build(ROOT / "data" / f"bench-scoring-{args.scale}.duckdb", args.scale, NOW)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as d:
        os.environ["FLASHDASH_MODELS"] = str(Path(d) / "models")
        copy_file(base.path, Path(d) / "store.duckdb")
        s = Store(Path(d) / "store.duckdb")
        s.ensure_schema(NOW)
        print(f"Store {base.path}: {s.scalar('count_leads'):,} leads; {os.cpu_count()} cores; "
              f"as of {NOW:%Y-%m-%d %H:%M}")
        bench_training(s, args.repeat)
        bench_score_all(s, args.repeat)
        bench_rescore(s, args.leads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
