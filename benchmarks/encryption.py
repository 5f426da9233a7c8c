"""Field encryption benchmark: python -m benchmarks.encryption [--scale S] [--db PATH].

On a demo store of that scale (data/bench-<scale>.duckdb, built once and reused):
- sealing: every lead's contact fields sealed and indexed (what demo generation and the v7 migration do);
- opening: the whole lead list with contact fields through Store.frame (the cost every page pays for the
  contact columns it shows), against the same query without them;
- lookups: a lead found by exact email (blind index) and by part of a contact name (opened to be searched);
- rotation: every sealed value in the store re-sealed under a new key (on a copy);
and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks.stores import build
from flashdash import crypto, pii, views
from flashdash.access import Actor
from flashdash.store import Store, copy_file

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 30, 12, 0)
ADMIN = Actor("admin", "Admin", "admin")


def _best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--db")
    args = parser.parse_args()
    store = build(Path(args.db) if args.db else ROOT / "data" / f"bench-{args.scale}.duckdb", args.scale, NOW)
    t0 = time.perf_counter()
    applied = store.ensure_schema(NOW)
    if 7 in applied:  # a store built before contact fields were sealed: the migration sealed it in place
        print(f"migration v7 sealed the store's contact data in place in {time.perf_counter() - t0:.1f} s")
    ring = store.keyring
    with store.read() as con:
        plain = crypto.open_frame(con.sql("SELECT id, contact_name, email, phone FROM leads").pl(), lambda: ring)
        ((sealed_n,),) = con.sql("SELECT count(*) FROM leads WHERE email IS NOT NULL").fetchall()
    print(f"{plain.height:,} leads, {sealed_n:,} with an email")

    t0 = time.perf_counter()
    pii.lead_frame(ring, plain)
    seal = time.perf_counter() - t0
    print(f"sealing and indexing every lead's contact fields: {seal:.2f} s ({seal / plain.height * 1e6:.0f} µs a lead)")

    flt = views.LeadFilter()
    with_contacts = _best(lambda: views.lead_list(store, ADMIN, flt, NOW, limit=None))
    with store.read() as con:
        raw = _best(lambda: con.sql("SELECT id, contact_name, email FROM leads").pl())
        opened = _best(lambda: crypto.open_frame(con.sql("SELECT id, contact_name, email FROM leads").pl(),
                                                 lambda: ring))
    print(f"every lead's name and email read: {raw * 1000:.0f} ms sealed, {opened * 1000:.0f} ms opened "
          f"({(opened - raw) / plain.height * 1e6:.1f} µs a lead)")
    print(f"the whole lead list (Leads page, admin, no limit): {with_contacts * 1000:.0f} ms")

    email = plain.filter(plain["email"].is_not_null())["email"][len(plain) // 2]
    by_email = _best(lambda: views.lead_list(store, ADMIN, views.LeadFilter(search=email.upper()), NOW))
    name = plain.filter(plain["contact_name"].is_not_null())["contact_name"][len(plain) // 3].split()[-1]
    by_name = _best(lambda: views.lead_list(store, ADMIN, views.LeadFilter(search=name.lower()), NOW))
    print(f"search by exact email (blind index): {by_email * 1000:.0f} ms; by part of a contact name "
          f"({name!r}, names opened): {by_name * 1000:.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        copy = Store(copy_file(store.path, Path(tmp) / "rotate.duckdb"))
        generated = json.loads(crypto.keyring_path(store.path).read_text())
        os.environ[crypto.KEYS_ENV] = f"k2:{crypto.new_key()},{generated['keys'][0]}"
        os.environ[crypto.INDEX_ENV] = generated["index_key"]
        t0 = time.perf_counter()
        done = pii.rotate(copy, ADMIN, NOW)
        rotate = time.perf_counter() - t0
        del os.environ[crypto.KEYS_ENV], os.environ[crypto.INDEX_ENV]
    print(f"rotation: {sum(done.values()):,} values re-sealed in {rotate:.1f} s")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
