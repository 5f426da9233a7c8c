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
    from flashdash import mail, users

    store = _store(args)
    store.ensure_schema()
    mail.install_starters(store, clock.now())  # sequences refer to stored email templates
    password = users.init_admin(store, clock.now())
    if password:
        print(f"Created the store at {store.path} with user 'admin'.")
        print(f"One-time password (shown only now; change it after signing in): {password}")
    else:
        print(f"The store at {store.path} already has users; nothing to do.")
    return 0


def cmd_demo_users(args: argparse.Namespace) -> int:
    """The demo logins on any store (an imported one, for instance)."""
    from flashdash import users

    store = _store(args)
    store.ensure_schema()
    created = users.create_demo_users(store, clock.now())
    if created:
        print("Demo logins: " + ", ".join(f"{u} / {p}" for u, p in created.items()))
    else:
        print("The demo logins exist already; nothing to do.")
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
    from flashdash import mail

    if mail.install_starters(store, clock.now()):  # a store from before the email templates existed
        print("Stored the starter email templates.")
    print(f"Using the store at {store.path}.")
    return 0


def cmd_access_review(args: argparse.Namespace) -> int:
    """The access review (users, roles, scope, last sign-in) as a CSV file, for SOC 2."""
    from flashdash import users

    _store(args).ensure_schema()
    return users.cmd_access_review(args)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the audit trail's hash chain; exit 1 naming the first broken record."""
    from flashdash import audit

    _store(args).ensure_schema()
    return audit.cmd_verify(args)


def cmd_keys_status(args: argparse.Namespace) -> int:
    """Sealed values per column and key; 1 when any contact value is stored readable."""
    from flashdash import pii

    store = _store(args)
    store.ensure_schema()
    status = pii.key_status(store)
    ring = store.keyring
    print(f"Current key: {ring.current}; keys held: {', '.join(ring.keys)}")
    for row in status.iter_rows(named=True):
        print(f"{row['column']}: {row['values']:,} {'readable' if row['key_id'] == 'readable' else 'under ' + row['key_id']}")
    return 1 if (status["key_id"] == "readable").any() else 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Re-seal every value sealed under an older key with the current one."""
    from flashdash import clock, pii
    from flashdash.exports import CLI_ACTOR

    store = _store(args)
    store.ensure_schema()
    done = pii.rotate(store, CLI_ACTOR, clock.now())
    total = sum(done.values())
    for column, n in sorted(done.items()):
        print(f"{column}: {n:,} re-sealed")
    print(f"Re-sealed {total:,} values under key {store.keyring.current}. Older keys can now be dropped from the "
          "settings once `keys status` shows none left under them (and after the backups made before today expire).")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    """A fresh random key, to put first in FLASHDASH_ENCRYPTION_KEYS before a rotation."""
    from flashdash import crypto

    print(f"{args.id}:{crypto.new_key()}")
    return 0


def cmd_forecast_evaluate(args: argparse.Namespace) -> int:
    """Backtest the revenue forecast on the store's history and print its figures, one per line."""
    from flashdash import forecast

    _store(args).ensure_schema()
    return forecast.cmd_evaluate(args)


def cmd_train(args: argparse.Namespace) -> int:
    from flashdash import predictive

    store = _store(args)
    card = predictive.train(store, clock.now())
    print(predictive.card_text(card))
    return 0


def cmd_scoring_evaluate(args: argparse.Namespace) -> int:
    """Train the scoring models in memory and print their out-of-time figures; the saved models stay as they are."""
    from flashdash import scoring

    store = _store(args)
    print("\n".join(scoring.evaluation_lines(scoring.evaluate(store, clock.now()))))
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


def _progress_printer(quiet: bool):
    last = [-1.0]

    def show(fraction: float, text: str) -> None:
        if quiet or fraction - last[0] < 0.1 and fraction < 1.0:
            return
        last[0] = fraction
        print(f"  {fraction:4.0%}  {text}", file=sys.stderr)

    return show


def _print_result(result, quarantine_dir: Path | None) -> None:
    print(result.summary())
    for note in result.notes:
        print(f"  note: {note}")
    if result.quarantined:
        print("  quarantined, first reasons:")
        for row, reason in result.quarantine.select("row", "reason").head(5).iter_rows():
            print(f"    row {row}: {reason}")
        if quarantine_dir is not None:
            from flashdash import imports

            quarantine_dir.mkdir(parents=True, exist_ok=True)
            stem = Path(result.file_name).stem
            target = quarantine_dir / f"{stem}-{result.entity}-quarantine.csv"
            imports.quarantine_table(result.quarantine).write_csv(target)
            print(f"  all {result.quarantined:,} quarantined rows with their reasons: {target}")
    if result.import_id is not None:
        print(f"  recorded as import #{result.import_id}; undo with `python -m flashdash import --undo "
              f"{result.import_id}`")


def cmd_import(args: argparse.Namespace) -> int:
    from flashdash import imports, mapping
    from flashdash.exports import CLI_ACTOR

    store = _store(args)
    now = clock.now()
    progress = _progress_printer(args.quiet)
    quarantine_dir = Path(args.quarantine_dir) if args.quarantine_dir else Path("data") / "quarantine"
    if args.undo is not None:
        counts = imports.undo(store, CLI_ACTOR, args.undo, now)
        print(f"Undid import #{args.undo}: " + (", ".join(f"{n:,} {t} rows" for t, n in counts.items()) or
                                                  "it had changed nothing") + ".")
        return 0
    if args.list:
        frame = imports.history(store, CLI_ACTOR)
        if frame.is_empty():
            print("No imports yet.")
        for row in frame.iter_rows(named=True):
            print(f"#{row['id']:<4} {row['started_at']:%Y-%m-%d %H:%M} {row['actor']:<10} {row['entity']:<13} "
                  f"{row['file_name']}: {row['rows_read']:,} read, {row['imported']:,} new, {row['updated']:,} "
                  f"updated, {row['skipped']:,} skipped, {row['quarantined']:,} quarantined"
                  f"{' (undone)' if row['status'] == 'undone' else ''}")
        return 0
    if args.preset:
        if not args.file:
            raise ValueError("Give the directory that holds the export files: import --preset NAME DIR.")
        preset = mapping.preset(args.preset)
        results = imports.import_preset(store, CLI_ACTOR, preset, Path(args.file), now, dry_run=args.dry_run,
                                        progress=progress)
        for result in results:
            _print_result(result, quarantine_dir)
        return 0
    if not args.file:
        raise ValueError("Give the file to import: import FILE --entity ENTITY [--mapping MAPPING.yaml].")
    path = Path(args.file)
    if args.mapping:
        chosen = mapping.load(args.mapping)
        if args.entity and args.entity != chosen.entity:
            raise ValueError(f"The mapping is for {chosen.entity}, not {args.entity}.")
    else:
        if not args.entity:
            raise ValueError("Say what the file holds: --entity " + "|".join(mapping.ENTITIES) + ".")
        info = imports.inspect(path)
        chosen = mapping.suggest(args.entity, imports.Reader(info).sample())
        if not chosen.fields:
            raise ValueError(f"No column of {path.name} looks like a field of {args.entity}; write a mapping file "
                             "(see the README) and pass --mapping.")
        print(f"Suggested mapping (save it with --save-mapping and edit it to change it):\n{chosen.to_yaml()}")
    changes = {}
    if args.on_duplicate:
        changes["on_duplicate"] = args.on_duplicate
    if args.create_missing:
        changes["create_missing"] = True
    if args.accept_near_matches:
        changes["accept_near_matches"] = True
    chosen = mapping.with_options(chosen, **changes)
    if args.save_mapping:
        chosen.save(args.save_mapping)
        print(f"Saved the mapping to {args.save_mapping}.")
    result = imports.import_file(store, CLI_ACTOR, path, chosen, now, dry_run=args.dry_run, progress=progress)
    _print_result(result, quarantine_dir)
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
    add("demo-users", cmd_demo_users, "add the demo logins (one per role) to a store, e.g. an imported one")
    p = add("bootstrap", cmd_bootstrap, "demo data when the store is empty (what `make run` does)")
    p.add_argument("--no-demo", action="store_true", help="create an empty store with an admin instead")
    p.add_argument("--scale", choices=["XS", "S", "M", "L"], default=None)
    add("train", cmd_train, "train and evaluate the conversion model on the store's history")
    p = sub.add_parser("scoring", help="the lead scoring engine")
    scoring_sub = p.add_subparsers(dest="scoring_command", required=True)
    p = scoring_sub.add_parser("evaluate", help="train the scoring models in memory (saving nothing) and print "
                                                "their out-of-time AUC, ECE, Brier score and vertical decisions")
    p.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
    p.set_defaults(fn=cmd_scoring_evaluate)
    add("info", cmd_info, "show the store's tables and sizes")
    p = sub.add_parser("audit", help="the audit trail")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    p = audit_sub.add_parser("verify", help="check the audit trail's hash chain; exit 1 naming the first broken "
                                            "record")
    p.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
    p.set_defaults(fn=cmd_audit_verify)
    p = sub.add_parser("forecast", help="the revenue forecast")
    forecast_sub = p.add_subparsers(dest="forecast_command", required=True)
    p = forecast_sub.add_parser("evaluate", help="backtest the revenue forecast (rolling origin) and print its MAPE, "
                                                 "the share of months within 5 and 10 percent and its interval "
                                                 "coverage, one per line")
    p.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
    p.set_defaults(fn=cmd_forecast_evaluate)
    p = sub.add_parser("keys", help="the encryption keys of contact data")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    for name, fn, help_text in (("status", cmd_keys_status, "sealed values per column and key (exit 1 when any "
                                                             "contact value is stored readable)"),
                                ("rotate", cmd_keys_rotate, "re-seal values under older keys with the current one "
                                                            "(the first in FLASHDASH_ENCRYPTION_KEYS)")):
        p = keys_sub.add_parser(name, help=help_text)
        p.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
        p.set_defaults(fn=fn)
    p = keys_sub.add_parser("new", help="print a fresh key as id:base64, to put first in FLASHDASH_ENCRYPTION_KEYS")
    p.add_argument("--id", default="k2", help="the new key's id (default k2)")
    p.set_defaults(fn=cmd_keys_new)
    p = add("access-review", cmd_access_review, "write the access review (users, roles, scope, last sign-in) to a CSV")
    p.add_argument("file", help="the CSV file to write")
    p = add("export", cmd_export, "write one entity, every row, to a CSV, Excel or Parquet file")
    p.add_argument("entity", help="leads, activities, usage, users, ... (an unknown name lists them all)")
    p.add_argument("file", help="the file to write; its extension (.csv, .xlsx, .parquet) gives the format")
    p.add_argument("--format", choices=["csv", "xlsx", "parquet"], help="the format, whatever the extension")
    p = add("backup", cmd_backup, "write the whole store to a folder (Parquet files and a checksummed manifest)")
    p.add_argument("dir", help="a new or empty folder, or an earlier backup's folder to replace")
    p = add("restore", cmd_restore, "replace the store with a backup; the replaced store is kept beside it")
    p.add_argument("dir", help="the backup's folder")
    p = add("import", cmd_import, "import a CSV, Excel or Parquet file (or a preset's folder of exports)")
    p.add_argument("file", nargs="?", help="the file to import; with --preset, the folder of export files")
    p.add_argument("--entity", help="what the file holds: leads, reps, activities, opportunities, customers, usage")
    p.add_argument("--mapping", help="a mapping file (YAML; see the README); without it, one is suggested")
    p.add_argument("--preset", help="olist, salesforce, hubspot or pipedrive: import a folder of their exports")
    p.add_argument("--on-duplicate", choices=["merge", "skip"], help="a row whose record exists: merge or skip")
    p.add_argument("--create-missing", action="store_true", help="create reps, teams and regions the file names")
    p.add_argument("--accept-near-matches", action="store_true", help="read a near-miss name as the known one")
    p.add_argument("--dry-run", action="store_true", help="check everything and report, but change nothing")
    p.add_argument("--save-mapping", help="write the mapping used to this YAML file")
    p.add_argument("--quarantine-dir", help="where quarantined rows are written as CSV (default data/quarantine)")
    p.add_argument("--undo", type=int, metavar="ID", help="take back import ID")
    p.add_argument("--list", action="store_true", help="list the imports")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

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
