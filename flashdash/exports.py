"""Export: whole entities to CSV, Excel or Parquet files, and page tables as downloadable bytes.

CSV and Parquet stream straight out of DuckDB with COPY, so a table of ten million rows never becomes a
Python frame. Excel is refused above a sheet's row limit (counted before anything is read) and is
written in batches by xlsxwriter in constant-memory mode: a million leads through polars' write_excel
held 6 GB; in batches they hold about 350 MB. Page tables are small and go through polars.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from flashdash import audit, clock, pii
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store

# Exportable entities by the name people use, and the table each one reads. Add a table here to export it.
ENTITIES: dict[str, str] = {
    "leads": "leads",
    "lead_stage_changes": "lead_stage_changes",
    "activities": "activities",
    "opportunities": "opportunities",
    "customers": "customers",
    "usage": "customer_usage",
    "reps": "reps",
    "teams": "teams",
    "regions": "regions",
    "territories": "territories",
    "cities": "cities",
    "users": "users",
    "audit_log": "audit_log",
    "job_runs": "job_runs",
    "model_cards": "model_cards",
}

# Columns that never leave the store through an export. Backups keep them: a restore must be whole.
HIDDEN_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("password_hash",)}

FORMATS: dict[str, str] = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
FORMAT_LABELS: dict[str, str] = {"csv": "CSV", "xlsx": "Excel", "parquet": "Parquet"}
MIME_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
EXCEL_MAX_ROWS = 1_048_575  # an Excel sheet holds 1,048,576 rows, one of them the header

# The command line acts as an administrator of the whole store.
CLI_ACTOR = Actor(username="cli", name="Command line", role="admin", rep_id=None, scope_reps=None)


def entity_table(entity: str) -> str:
    """The table behind an entity name, or a ValueError that lists the valid names."""
    try:
        return ENTITIES[entity]
    except KeyError:
        raise ValueError(f"There is no entity {entity!r} to export. Choose one of: {', '.join(sorted(ENTITIES))}.") \
            from None


def format_for(path: Path | str, fmt: str | None = None) -> str:
    """The export format: `fmt` when given, else the file's extension (.csv, .xlsx, .parquet)."""
    if fmt is not None:
        if fmt not in MIME_TYPES:
            raise ValueError(f"Unknown export format {fmt!r}: use csv, xlsx or parquet.")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"Cannot tell the format of {Path(path).name!r} from its extension {suffix or '(none)'!r}: "
            "name the file .csv, .xlsx or .parquet, or pass the format (--format csv|xlsx|parquet)."
        )
    return FORMATS[suffix]


def check_excel_rows(rows: int, what: str, limit: int | None = None) -> None:
    """Refuse an Excel export that does not fit on one sheet."""
    limit = EXCEL_MAX_ROWS if limit is None else limit
    if rows > limit:
        raise ValueError(
            f"{what} has {rows:,} rows, more than an Excel sheet holds ({limit:,} below the header). "
            "Export it as CSV or Parquet instead."
        )


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin" or not actor.sees_all:
        raise AccessDenied("Only admins can export whole tables; download a page's table from the page instead.")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(store: Store, con: duckdb.DuckDBPyConnection, entity: str) -> str:
    """SELECT of an entity's exportable columns. Identifiers cannot be bound: the table comes from ENTITIES
    and the columns from the store's catalog, never from user text."""
    table = entity_table(entity)
    hidden = set(HIDDEN_COLUMNS.get(entity, ()))
    columns = [c for c in store.frame("export_columns", con, table=table)["column_name"] if c not in hidden]
    if not columns:
        raise ValueError(f"The store has no table {table!r} for {entity!r}; run `python -m flashdash init` first.")
    sealed = {c for t, c, _, _ in pii.COLUMNS if t == table}
    pii.register(con)  # sealed contact values are written out opened, as the pages show them
    shown = ", ".join(f"fd_open({_ident(c)}) AS {_ident(c)}" if c in sealed else _ident(c) for c in columns)
    return f"SELECT {shown} FROM {_ident(table)}"  # noqa: S608


def _partial_path(path: Path) -> Path:
    # Same directory (so os.replace is atomic), same extension (writers that look at it stay happy).
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


EXCEL_BATCH = 50_000  # rows held in memory at a time while writing a sheet


def _write_xlsx(source: Path, path: Path, sheet: str) -> None:
    """Write a Parquet file's rows to one sheet, batch by batch (xlsxwriter's constant-memory mode)."""
    import pyarrow.parquet as pq
    import xlsxwriter

    data = pq.ParquetFile(source)
    schema = pl.from_arrow(data.schema_arrow.empty_table()).schema  # type: ignore[union-attr]
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False, "nan_inf_to_errors": True, "remove_timezone": True,
               "tmpdir": str(path.parent)}
    with xlsxwriter.Workbook(str(path), options) as book:
        ws = book.add_worksheet(sheet)
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        writers: list[tuple] = []
        for col, (name, dtype) in enumerate(schema.items()):
            ws.set_column(col, col, 19 if dtype == pl.Datetime else max(len(name) + 2, 10))
            if dtype == pl.Datetime:
                writers.append((ws.write_datetime, stamp))
            elif dtype == pl.Date:
                writers.append((ws.write_datetime, day))
            elif dtype == pl.Boolean:
                writers.append((ws.write_boolean, None))
            elif dtype.is_numeric():
                writers.append((ws.write_number, None))
            elif dtype == pl.String:
                writers.append((ws.write_string, None))
            else:
                writers.append((lambda r, c, v, f=None: ws.write_string(r, c, str(v)), None))
        ws.write_row(0, 0, list(schema), book.add_format({"bold": True}))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(data.metadata.num_rows, 1), max(len(schema) - 1, 0))
        r = 1
        for batch in data.iter_batches(batch_size=EXCEL_BATCH):
            for row in pl.from_arrow(batch).iter_rows():  # type: ignore[union-attr]
                for c, value in enumerate(row):
                    if value is None:  # a null stays an empty cell
                        continue
                    write, fmt = writers[c]
                    if fmt is None:
                        write(r, c, value)
                    else:
                        write(r, c, value, fmt)
                r += 1


def export_entity(store: Store, actor: Actor, entity: str, path: Path | str, fmt: str | None = None,
                  now: datetime | None = None) -> int:
    """Write one entity, every row, to `path`; returns the number of rows.

    The rows are read in one statement (one snapshot); the file appears whole or not at all (written
    beside it, then renamed) and the export is recorded in the audit trail as it is renamed into place.
    An Excel sheet is written from a Parquet copy after the store is released, so a slow sheet does
    not keep other processes waiting for the store.
    """
    _require_admin(actor)
    entity_table(entity)
    path = Path(path)
    fmt = format_for(path, fmt)
    if not path.parent.is_dir():
        raise ValueError(f"The folder {path.parent} does not exist.")
    partial = _partial_path(path)
    staged = partial.with_suffix(".parquet") if fmt == "xlsx" else partial
    try:
        with store.read() as con:
            select = _select(store, con, entity)
            if fmt == "xlsx":
                ((rows,),) = con.execute(f"SELECT count(*) FROM ({select})").fetchall()  # noqa: S608
                check_excel_rows(rows, entity)
            options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
            ((rows,),) = con.execute(f"COPY ({select}) TO $path ({options})", {"path": str(staged)}).fetchall()
        if fmt == "xlsx":
            check_excel_rows(rows, entity)  # rows may have arrived since the count
            _write_xlsx(staged, partial, sheet=entity[:31])
        with store.write() as con:
            audit.record(con, actor.username, "export", entity, None, now or clock.now(),
                         after={"file": str(path), "format": fmt, "rows": rows})
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)
    return int(rows)


def frame_bytes(frame: pl.DataFrame, fmt: str) -> bytes:
    """A shown table as the bytes of a CSV, Excel or Parquet file."""
    if fmt == "csv":
        return frame.write_csv().encode()
    buf = io.BytesIO()
    if fmt == "xlsx":
        check_excel_rows(frame.height, "This table")
        frame.write_excel(buf, autofit=True)
    elif fmt == "parquet":
        frame.write_parquet(buf)
    else:
        raise ValueError(f"Unknown export format {fmt!r}: use csv, xlsx or parquet.")
    return buf.getvalue()
