"""Audit trail benchmark: python -m benchmarks.audit [--records 1000000] [--minute 1000] [--db PATH].

In an empty store (data/bench-audit.duckdb, replaced each run): N synthetic audit records shaped like the app's
(a lead update with a small before and after, a reason), then, each step in a process of its own so that its
peak memory (ru_maxrss) is its own:
- seal: the first seal of all N (the worst case: a store upgraded with a long unsealed trail);
- verify: walk and check the whole chain;
- a minute's seal: `--minute` more records sealed onto the N (the seal_audit job's usual work);
- verify of a tampered chain: one record near the end edited by SQL, found by the full walk.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from flashdash import audit
from flashdash.store import Store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 30, 12, 0)

# Benchmark data, written straight into the table (not through the domain layer, which writes one per request).
_SYNTHETIC = """
INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, before, after, reason)
SELECT nextval('audit_log_id_seq'), TIMESTAMP '2025-01-01' + to_seconds(($first + i) * 5),
       'rep' || ((($first + i) % 50) + 1),
       ['update', 'stage_change', 'assign', 'create'][(($first + i) % 4) + 1], 'lead', (($first + i) % 200000)::VARCHAR,
       '{"owner_id": ' || (($first + i) % 40) || ', "status": "new"}',
       '{"owner_id": ' || (($first + i) % 41) || ', "status": "mql"}',
       'synthetic record ' || ($first + i) || ': budget confirmed on the call'
FROM range($n) t(i)
"""


def _insert(store: Store, n: int, first: int) -> None:
    with store.write() as con:
        con.execute(_SYNTHETIC, {"n": n, "first": first})


def _step(step: str, db: Path, minute: int) -> dict:
    """Run one step in this process; returns its figures."""
    store = Store(db)
    t0 = time.perf_counter()
    if step == "seal":
        out = {"sealed": audit.seal(store, NOW)}
    elif step == "verify":
        out = {"result": audit.verify(store)["message"]}
    elif step == "minute":
        with store.read() as con:
            (total,) = con.execute("SELECT count(*) FROM audit_log").fetchone()
        _insert(store, minute, total)
        t0 = time.perf_counter()
        out = {"sealed": audit.seal(store, NOW)}
    elif step == "tampered":
        with store.write() as con:
            (last,) = con.execute("SELECT max(seq) FROM audit_log").fetchone()
            con.execute("UPDATE audit_log SET after = '{\"status\": \"won\"}' WHERE seq = ?", [last - 10])
        t0 = time.perf_counter()
        out = {"result": audit.verify(store)["message"]}
    else:
        raise SystemExit(f"unknown step {step}")
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--minute", type=int, default=1_000, help="records a minute's seal adds onto the chain")
    p.add_argument("--db", type=Path, default=ROOT / "data" / "bench-audit.duckdb")
    p.add_argument("--step", help=argparse.SUPPRESS)  # internal: run one step and print its figures as JSON
    args = p.parse_args()
    if args.step:
        print(json.dumps(_step(args.step, args.db, args.minute)))
        return
    for stale in (args.db, args.db.with_name(args.db.name + ".wal")):
        stale.unlink(missing_ok=True)
    store = Store(args.db)
    store.ensure_schema(NOW)
    t0 = time.perf_counter()
    _insert(store, args.records, 0)
    print(f"{args.records:,} synthetic audit records written in {time.perf_counter() - t0:.1f} s ({args.db})")
    labels = {"seal": f"first seal of {args.records:,}", "verify": f"verify {args.records:,}",
              "minute": f"seal {args.minute:,} more", "tampered": "verify, one record edited"}
    for step, label in labels.items():
        done = subprocess.run([sys.executable, "-m", "benchmarks.audit", "--step", step, "--db", str(args.db),
                               "--minute", str(args.minute)], cwd=ROOT, capture_output=True, text=True, check=True)
        fig = json.loads(done.stdout.strip().splitlines()[-1])
        extra = fig.get("result") or f"{fig['sealed']:,} sealed"
        print(f"{label:<28} {fig['seconds']:7.1f} s   peak {fig['peak_mb']:6,.0f} MB   {extra}")


if __name__ == "__main__":
    main()
