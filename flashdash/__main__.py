"""The command line: python -m flashdash <command>."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from flashdash import clock
from flashdash.store import Store, StoreError, db_path


def _store(args: argparse.Namespace) -> Store:
    return Store(Path(args.db) if args.db else db_path())


def cmd_demo(args: argparse.Namespace) -> int:
    from flashdash import demo, users

    store = _store(args)
    now = datetime.fromisoformat(args.as_of) if args.as_of else clock.now().replace(second=0)
    t0 = time.perf_counter()
    counts = demo.generate(store, scale=args.scale, seed=args.seed, now=now, replace=args.replace)
    print(f"Demo data (scale {args.scale}, seed {args.seed}, as of {now:%Y-%m-%d %H:%M}) in {store.path} "
          f"in {time.perf_counter() - t0:.1f} s:")
    for table, n in counts.items():
        print(f"  {table:<20} {n:>12,}")
    created = users.create_demo_users(store, clock.now())
    if created:
        print("Demo logins: " + ", ".join(f"{u} / {p}" for u, p in created.items()))
    if not args.no_train:
        cmd_train(args)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from flashdash import users

    store = _store(args)
    store.ensure_schema()
    password = users.init_admin(store, clock.now())
    if password:
        print(f"Created the store at {store.path} with user 'admin'.")
        print(f"One-time password (shown only now; change it after signing in): {password}")
    else:
        print(f"The store at {store.path} already has users; nothing to do.")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """`make run`'s first step: a store with demo data when it is empty, else just migrate."""
    store = _store(args)
    store.ensure_schema()
    if not store.scalar("count_leads"):
        if args.no_demo:
            return cmd_init(args)
        args.scale, args.seed, args.as_of, args.replace, args.no_train = args.scale or "S", 42, None, False, False
        return cmd_demo(args)
    print(f"Using the store at {store.path}.")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from flashdash import predictive

    store = _store(args)
    card = predictive.train(store, clock.now())
    print(predictive.card_text(card))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    store = _store(args)
    with store.read() as con:
        rows = store.frame("store_summary", con)
        version = store.scalar("schema_version", con)
    print(f"Store {store.path} ({store.path.stat().st_size / 1e6:,.1f} MB), schema version {version}")
    for table, n in rows.iter_rows():
        print(f"  {table:<22} {n:>12,}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from flashdash import exports

    store = _store(args)
    t0 = time.perf_counter()
    rows = exports.export_entity(store, exports.CLI_ACTOR, args.entity, Path(args.file), args.format, clock.now())
    print(f"Exported {rows:,} {args.entity} rows to {args.file} in {time.perf_counter() - t0:.1f} s.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from flashdash import backup

    store = _store(args)
    t0 = time.perf_counter()
    result = backup.backup(store, Path(args.dir), clock.now())
    print(f"Backed up {result.rows:,} rows in {len(result.tables)} tables from {store.path} to {result.directory} "
          f"({result.bytes / 1e6:,.1f} MB{', replacing the earlier backup there' if result.replaced else ''}) "
          f"in {time.perf_counter() - t0:.1f} s.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from flashdash import backup

    store = _store(args)
    t0 = time.perf_counter()
    result = backup.restore(store, Path(args.dir), clock.now())
    kept = f"; the replaced store is kept at {result.kept}" if result.kept else ""
    print(f"Restored {result.rows:,} rows in {len(result.tables)} tables from {args.dir} (backed up "
          f"{result.created_at}) into {result.path} in {time.perf_counter() - t0:.1f} s{kept}. "
          "Run `python -m flashdash train` to rebuild the models from the restored data.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flashdash", description="Flash Sales Dashboard commands")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
        p.set_defaults(fn=fn)
        return p

    p = add("demo", cmd_demo, "generate a deterministic synthetic sales org")
    p.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", help="the generated history ends at this time (ISO); default now")
    p.add_argument("--replace", action="store_true", help="replace the sales data already in the store")
    p.add_argument("--no-train", action="store_true", help="skip training the conversion model")
    add("init", cmd_init, "create an empty store with an admin and a one-time password")
    p = add("bootstrap", cmd_bootstrap, "demo data when the store is empty (what `make run` does)")
    p.add_argument("--no-demo", action="store_true", help="create an empty store with an admin instead")
    p.add_argument("--scale", choices=["XS", "S", "M", "L"], default=None)
    add("train", cmd_train, "train and evaluate the conversion model on the store's history")
    add("info", cmd_info, "show the store's tables and sizes")
    p = add("export", cmd_export, "write one entity, every row, to a CSV, Excel or Parquet file")
    p.add_argument("entity", help="leads, activities, usage, users, ... (an unknown name lists them all)")
    p.add_argument("file", help="the file to write; its extension (.csv, .xlsx, .parquet) gives the format")
    p.add_argument("--format", choices=["csv", "xlsx", "parquet"], help="the format, whatever the extension")
    p = add("backup", cmd_backup, "write the whole store to a folder (Parquet files and a checksummed manifest)")
    p.add_argument("dir", help="a new or empty folder, or an earlier backup's folder to replace")
    p = add("restore", cmd_restore, "replace the store with a backup; the replaced store is kept beside it")
    p.add_argument("dir", help="the backup's folder")

    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
