"""Imports: a file in, every row validated, applied in one transaction, recorded and undoable.

An import runs in two halves. Reading and validating (the slow half) happens outside the store's
lock: the file is streamed in batches, every cell is coerced to its field's type with explicit
formats, and the batches are staged as Parquet. Applying happens in one write unit of work: references
are resolved against the store, duplicates found on natural keys, each row gets its outcome
(imported, updated, skipped or quarantined, which always add up to the rows read), the changes are
written with their before-images, and the import is recorded. A crash or kill before the commit
leaves the store as it was. A preview is the same run, rolled back at the end.
"""

# SQL here is composed from identifiers of the entity specs (never from file content, which is bound or
# staged); hence the blanket S608 exemption.
# ruff: noqa: S608
from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
from rapidfuzz import fuzz, process

from flashdash import audit, crypto, faults, pii
from flashdash.access import AccessDenied, Actor
from flashdash.mapping import (
    BOOL_FALSE,
    BOOL_NULL,
    BOOL_TRUE,
    NULL_TOKENS,
    SYNONYMS,
    EntitySpec,
    FieldSpec,
    Mapping,
    MappingError,
    Preset,
    Source,
    check_columns,
    entity_spec,
    norm_key,
    resolve_columns,
    template_parts,
)
from flashdash.store import Store

BATCH_ROWS = 100_000
SAMPLE_ROWS = 1_000
MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer CSV line is quarantined, not read
NEAR_MATCH = 88  # rapidfuzz ratio (0-100) above which a new name "almost matches" a known one
NEAR_MATCH_LIMIT = 5_000  # unknown names compared for near matches; beyond that they are just unknown
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
            ".parquet": "parquet", ".pq": "parquet"}
PROGRESS = Callable[[float, str], None]

ISO_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M",
               "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f%z",
               "%Y-%m-%d %H:%M:%S%.f%z")
# "3/14/2025, 10:22 AM": Salesforce's US-locale report exports put a comma between date and time.
MDY_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
               "%m/%d/%Y, %I:%M %p", "%m/%d/%Y, %H:%M", "%m/%d/%y", "%m/%d/%y %I:%M %p", "%m-%d-%Y")
DMY_FORMATS = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y, %H:%M", "%d.%m.%Y", "%d.%m.%Y %H:%M",
               "%d.%m.%Y %H:%M:%S", "%d/%m/%y", "%d/%m/%y %H:%M", "%d-%m-%Y")
YEARS = (1900, 2200)  # a parsed year outside these is a misread ("3/14/25" read with %Y is the year 25)
TEXT_FORMATS = ("%d %b %Y", "%d-%b-%Y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y", "%b %d %Y", "%d-%b-%y")
INT32_MAX = 2**31 - 1
INT_FIELDS_32 = ("duration_min", "payment_count")
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CURRENCY_RE = r"(?i)^(r\$|us\$|\$|€|£|brl|usd|eur|gbp)\s*|\s*(r\$|\$|€|£|brl|usd|eur|gbp)$"
SIGNED_CURRENCY_RE = r"(?i)^([-+])\s*(?:r\$|us\$|\$|€|£|brl|usd|eur|gbp)\s*"  # -$1,200: the sign comes first


class ImportProblem(ValueError):
    """A file or mapping that cannot be imported as given, with what to do about it."""


# -- reading files


@dataclass
class FileInfo:
    path: Path
    name: str
    kind: str  # csv | excel | parquet
    sha256: str
    size: int
    encoding: str | None = None
    columns: list[str] = field(default_factory=list)


def file_kind(path: Path) -> str:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ImportProblem(f"{path.name}: cannot import {path.suffix or 'files without an extension'}; "
                            "use CSV (.csv), Excel (.xlsx) or Parquet (.parquet).")
    return kind


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


IS_SEPARATOR = np.isin(np.arange(256), np.frombuffer(b",;\t|", dtype=np.uint8))
MAX_SEPARATORS = 5_000  # on one line; DuckDB's reader slows and swells with the square of a line's extra fields


def scan_csv(path: Path) -> tuple[str, int, int]:
    """One pass over a CSV file: its encoding (UTF-8 with or without a BOM, UTF-16 with a BOM, or else
    Latin-1, which reads any byte), and its widest line (line number, separators on it; quotes not heeded)."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", 0, 0
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        encoding = "utf-8"
        widest = (0, 0)
        lines_before, carried = 0, 0  # separators on the unfinished line a chunk ends with
        for chunk in iter(lambda: f.read(1 << 22), b""):
            if encoding == "utf-8":
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    encoding = "latin-1"
            raw = np.frombuffer(chunk, dtype=np.uint8)
            separators = np.cumsum(IS_SEPARATOR[raw], dtype=np.int32)
            ends = np.flatnonzero(raw == 10)
            at_ends = np.concatenate(([0], separators[ends]))
            per_line = np.diff(at_ends)
            if per_line.size:
                per_line[0] += carried
                i = int(per_line.argmax())
                if per_line[i] > widest[1]:
                    widest = (lines_before + i + 1, int(per_line[i]))
                carried = int(separators[-1] - at_ends[-1])
            else:
                carried += int(separators[-1]) if separators.size else 0
            lines_before += ends.size
        if carried > widest[1]:
            widest = (lines_before + 1, carried)
        if encoding == "utf-8":
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                encoding = "latin-1"
    return encoding, *widest


def inspect(path: Path | str, name: str | None = None) -> FileInfo:
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"There is no file at {path}.")
    info = FileInfo(path=path, name=name or path.name, kind=file_kind(Path(name or path.name)),
                    sha256=sha256(path), size=path.stat().st_size)
    if info.size == 0:
        raise ImportProblem(f"{info.name} is empty: it needs a header row and at least one row of data.")
    if info.kind == "csv":
        info.encoding, line, separators = scan_csv(path)
        if separators > MAX_SEPARATORS:
            raise ImportProblem(
                f"{info.name}: line {line:,} has {separators:,} separators, more than the {MAX_SEPARATORS:,} a row "
                "can have. A field is probably missing its closing quote, or the file is not a CSV; fix that line "
                "and import again.")
    return info


def _csv_relation(con: duckdb.DuckDBPyConnection, info: FileInfo, mapping: Mapping | None) -> duckdb.DuckDBPyRelation:
    options = {"all_varchar": True, "header": True, "store_rejects": True, "encoding": info.encoding,
               "max_line_size": MAX_LINE_BYTES, "null_padding": False}
    if mapping is not None and mapping.delimiter:
        options["delim"] = mapping.delimiter
    elif info.path.suffix.lower() == ".tsv":
        options["delim"] = "\t"
    args = ", ".join(f"{k} = ${k}" for k in options)
    try:
        return con.sql(f"SELECT * FROM read_csv($path, {args})",
                       params={"path": str(info.path), **options})
    except duckdb.Error as exc:
        raise ImportProblem(f"{info.name} cannot be read as CSV: {str(exc).splitlines()[0]}") from exc


def safe_names(columns: list[str]) -> list[str]:
    """A file's column names as the import reads them: a blank name becomes columnN, a repeated one gets a
    suffix, and `_row` (the import's own row number) and names polars would read as a pattern (^...$) get
    " (file)" after them."""
    out: list[str] = []
    seen: set[str] = set()
    last_suffix: dict[str, int] = {}  # a broken file can repeat one name 100,000 times: no rescans from _2
    for i, c in enumerate(columns):
        name = str(c) if str(c).strip() else f"column{i + 1}"
        # "_row" is the import's own; polars reads a name like "^...$" as a pattern, not a column
        name = f"{name} (file)" if name == "_row" or (name.startswith("^") and name.endswith("$")) else name
        base, k = name, last_suffix.get(name, 1)
        while name in seen:
            k += 1
            name = f"{base}_{k}"
        last_suffix[base] = k
        seen.add(name)
        out.append(name)
    return out


def _text(series: pl.Series) -> pl.Series:
    """A column as text. Lists, structs, binary and durations do not cast: they are written out instead."""
    if series.dtype == pl.String:
        return series
    try:
        return series.cast(pl.String, strict=False)
    except pl.exceptions.PolarsError:
        def show(v: Any) -> str | None:
            if v is None:
                return None
            if isinstance(v, bytes):
                return v.decode("utf-8", errors="replace")
            return json.dumps(v, default=str, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v)
        return pl.Series(series.name, [show(v) for v in series.to_list()], dtype=pl.String)


def _string_frame(columns: list[str], batch: Any) -> pl.DataFrame:
    """A batch (polars or arrow) as text columns under the file's safe names."""
    if not isinstance(batch, pl.DataFrame):
        batch = pl.from_arrow(batch.rename_columns([f"c{i}" for i in range(batch.num_columns)]))
    return pl.DataFrame([_text(s).alias(name) for s, name in zip(batch.get_columns(), columns, strict=True)])


@dataclass
class Reader:
    """Streams a file as batches of text columns, numbering the rows; CSV lines it cannot parse are kept
    aside in `rejects` (row number, reason, the line as read)."""

    info: FileInfo
    mapping: Mapping | None = None
    batch_rows: int = BATCH_ROWS
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    rows_accepted: int = 0

    def sample(self, n: int = SAMPLE_ROWS) -> pl.DataFrame:
        for batch in Reader(self.info, self.mapping, batch_rows=n).batches():
            return batch.head(n)
        return pl.DataFrame({c: [] for c in self.info.columns}, schema=dict.fromkeys(self.info.columns, pl.String))

    def batches(self) -> Iterator[pl.DataFrame]:
        start = 0
        for raw in self._raw_batches():
            batch = _string_frame(self.info.columns, raw)
            n = batch.height
            yield batch.with_columns(_row=pl.int_range(start + 1, start + n + 1, dtype=pl.Int64))
            start += n
        self.rows_accepted = start

    def _raw_batches(self) -> Iterator[Any]:
        """Batches as the file's reader gives them (arrow record batches or polars frames), setting
        `info.columns` first."""
        kind = self.info.kind
        if kind == "csv":
            with Store.scratch() as con:
                rel = _csv_relation(con, self.info, self.mapping)
                self.info.columns = safe_names(rel.columns)
                try:
                    yield from rel.to_arrow_reader(self.batch_rows)
                except duckdb.Error as exc:
                    raise ImportProblem(f"{self.info.name} cannot be read as CSV: {str(exc).splitlines()[0]}") \
                        from exc
                rows = con.sql("SELECT line, string_agg(error_type || ': ' || error_message, '; '), "
                               "any_value(csv_line) FROM reject_errors GROUP BY line ORDER BY line").fetchall()
                self.rejects = [(int(line) - 1, reason, text or "") for line, reason, text in rows]
        elif kind == "parquet":
            try:
                pf = pq.ParquetFile(self.info.path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                raise ImportProblem(f"{self.info.name} cannot be read as Parquet: {exc}") from exc
            self.info.columns = safe_names(pf.schema_arrow.names)
            try:
                yield from pf.iter_batches(batch_size=self.batch_rows)
            except (OSError, ValueError) as exc:  # a damaged page shows only when it is read
                raise ImportProblem(f"{self.info.name} cannot be read as Parquet: {exc}") from exc
        else:
            try:
                frame = pl.read_excel(self.info.path, sheet_name=self.mapping.sheet if self.mapping else None,
                                      infer_schema_length=0)
            except Exception as exc:  # fastexcel raises its own error types
                raise ImportProblem(f"{self.info.name} cannot be read as an Excel workbook: {exc}") from exc
            self.info.columns = safe_names(frame.columns)
            for offset in range(0, frame.height, self.batch_rows):
                yield frame.slice(offset, self.batch_rows)

    def row_numbers_with_rejects(self) -> list[int]:
        """Data-row numbers the rejected lines had, shifted for numbering the accepted rows (see `apply`)."""
        return sorted(r for r, _, _ in self.rejects)


# -- coercion: text cells to typed values, with a reason for every cell that does not fit


def _clean(expr: pl.Expr) -> pl.Expr:
    text = expr.str.strip_chars()
    return pl.when(text.str.to_lowercase().is_in(NULL_TOKENS)).then(None).otherwise(text)


def number_expr(text: pl.Expr, decimal: str) -> pl.Expr:
    """Numbers as people write them: 1,234.50  1.234,50  1 234  (12)  $1,200  R$ 300,00."""
    s = text.str.strip_chars()
    negative = s.str.contains(r"^\(.*\)$")
    s = s.str.replace_all(r"^\(|\)$", "").str.replace(SIGNED_CURRENCY_RE, "${1}").str.replace_all(CURRENCY_RE, "")
    s = s.str.replace_all(r"[\s\u00a0\u202f'_]", "")
    # With the decimal mark given, the other mark may only group thousands: "1,234.5" in a file said to
    # write decimal commas is not 1.2345 but a cell to look at.
    if decimal == ",":
        ok = s.str.contains(r"^[-+]?(\d{1,3}(\.\d{3})+|\d*)(,\d+)?([eE][-+]?\d+)?$")
        s = pl.when(ok).then(s.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
    elif decimal == ".":
        ok = s.str.contains(r"^[-+]?(\d{1,3}(,\d{3})+|\d*)(\.\d+)?([eE][-+]?\d+)?$")
        s = pl.when(ok).then(s.str.replace_all(",", "", literal=True))
    else:
        s = (pl.when(s.str.contains(r"^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$")).then(s.str.replace_all(",", "", literal=True))
             .when(s.str.contains(r"^[-+]?\d{1,3}(\.\d{3})+,\d*$|^[-+]?\d{1,3}(\.\d{3}){2,}$"))
             .then(s.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
             .when(s.str.contains(r"^[-+]?\d*,\d+$")).then(s.str.replace(",", ".", literal=True))
             .otherwise(s))
    value = s.cast(pl.Float64, strict=False)
    value = pl.when(value.is_finite()).then(value)
    return pl.when(negative).then(-value).otherwise(value)


def parse_number(frame: pl.DataFrame, column: str, decimal: str) -> pl.DataFrame:
    return frame.select(number_expr(pl.col(column), decimal))


def parse_datetime_expr(column: str, formats: tuple[str, ...] | list[str]) -> pl.Expr:
    """The first of `formats` that reads each cell (times with an offset are converted to UTC)."""
    parsed = []
    for fmt in formats:
        if "%z" in fmt:
            value = pl.col(column).str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False).dt.replace_time_zone(None)
        else:
            value = pl.col(column).str.strptime(pl.Datetime("us"), fmt, strict=False)
        # %Y reads "25" as the year 25: such a misreading must leave the cell to the next format (%y).
        parsed.append(pl.when(value.dt.year().is_between(*YEARS)).then(value))
    return pl.coalesce(parsed) if parsed else pl.lit(None, pl.Datetime("us"))


def detect_formats(values: pl.Series, dayfirst: bool | None) -> tuple[list[str], str | None]:
    """The date formats a column uses, judged on a sample; and a note when day and month are ambiguous."""
    sample = values.drop_nulls().str.strip_chars()
    sample = sample.filter(sample != "").head(5_000)
    if sample.is_empty():
        return list(ISO_FORMATS), None
    frame = pl.DataFrame({"v": sample})
    counts = {f: frame.select(parse_datetime_expr("v", [f]).is_not_null().sum()).item()
              for f in ISO_FORMATS + MDY_FORMATS + DMY_FORMATS + TEXT_FORMATS}
    # Cells each reading takes in any of its formats: "3/14/2025 10:22 AM" beside "03/04/2025" settles it.
    mdy = frame.select(parse_datetime_expr("v", MDY_FORMATS).is_not_null().sum()).item()
    dmy = frame.select(parse_datetime_expr("v", DMY_FORMATS).is_not_null().sum()).item()
    note = None
    drop: tuple[str, ...] = ()
    if dayfirst is True:
        drop = MDY_FORMATS
    elif dayfirst is False:
        drop = DMY_FORMATS
    elif mdy and dmy:
        if mdy >= dmy:
            drop = DMY_FORMATS
            if mdy == dmy:
                note = ("dates such as 03/04/2024 were read month first; set `options: {dayfirst: true}` in the "
                        "mapping if they are day first")
        else:
            drop = MDY_FORMATS
    chosen = sorted((f for f, n in counts.items() if n and f not in drop), key=lambda f: -counts[f])
    return (chosen or list(ISO_FORMATS)), note


def _enum_table(spec: FieldSpec, src: Source) -> dict[str, str | None]:
    table: dict[str, str | None] = {norm_key(v): v for v in spec.vocab}
    table.update(SYNONYMS.get(spec.name, {}))
    table.update({norm_key(k): (None if v is None else str(v)) for k, v in src.values.items()})
    return table


def _size_bucket(n: pl.Expr) -> pl.Expr:
    return (pl.when(n <= 10).then(pl.lit("1-10")).when(n <= 50).then(pl.lit("11-50"))
            .when(n <= 200).then(pl.lit("51-200")).when(n <= 1000).then(pl.lit("201-1000")).otherwise(pl.lit("1000+")))


def _raw(src: Source) -> pl.Expr:
    if isinstance(src.column, list):
        return pl.coalesce([_clean(pl.col(c)) for c in src.column])
    if src.column is not None:
        return _clean(pl.col(src.column))
    if src.template is not None:
        pieces: list[pl.Expr] = []
        cells: list[pl.Expr] = []
        for literal, column, length in template_parts(src.template):
            if literal:
                pieces.append(pl.lit(literal))
            if column is not None:
                cell = _clean(pl.col(column))
                cells.append(cell.str.slice(0, length) if length else cell)
                pieces.append(cells[-1])
        # "{First Name} {Last Name}" with no first name is the last name, not nothing; with no cell at all
        # the field is empty ("SDR {sdr_id}" of a row without an id is not "SDR").
        text = pl.concat_str(pieces, ignore_nulls=True).str.strip_chars()
        return pl.when(pl.any_horizontal([c.is_not_null() for c in cells])).then(text)
    value = src.value
    if value is None:
        return pl.lit(None, pl.String)
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return pl.lit(text, pl.String)


@dataclass
class Coercer:
    """Turns a batch of text cells into typed target columns plus `_errors` and `_flags`."""

    mapping: Mapping
    formats: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def prepare(self, sample: pl.DataFrame) -> None:
        """Resolve date formats on the first batch, so every batch reads dates the same way."""
        spec = self.mapping.spec
        for name, src in self.mapping.fields.items():
            f = spec.field(name)
            if f.kind not in ("datetime", "date") or name in self.formats:
                continue
            if src.formats:
                self.formats[name] = list(src.formats)
                continue
            values = sample.select(_raw(src).alias("v")).to_series() if sample.height else pl.Series("v", [], pl.String)
            formats, note = detect_formats(values, self.mapping.dayfirst)
            self.formats[name] = formats
            if note:
                self.notes.append(f"{name}: {note}")

    def resolved_mapping(self) -> Mapping:
        """The mapping with the date formats it actually used, as the import's record keeps it."""
        fields = {}
        for name, src in self.mapping.fields.items():
            if name in self.formats and not src.formats:
                fields[name] = Source(column=src.column, value=src.value, template=src.template, only_new=src.only_new,
                                      formats=tuple(self.formats[name]), values=src.values, multiply=src.multiply)
            else:
                fields[name] = src
        return Mapping(**{**self.mapping.__dict__, "fields": fields})

    def coerce(self, batch: pl.DataFrame) -> pl.DataFrame:
        spec = self.mapping.spec
        raw = batch.select(pl.col("_row"), *[_raw(src).alias(name) for name, src in self.mapping.fields.items()])
        values: list[pl.Expr] = []
        errors: list[pl.Expr] = []
        for name in self.mapping.fields:
            value, error = self._field(spec.field(name), self.mapping.fields[name])
            values.append(value.alias(name))
            errors.append(error)
        typed = raw.select(pl.col("_row"), *values,
                           _errors=pl.concat_str(errors, separator="; ", ignore_nulls=True) if errors
                           else pl.lit(None, pl.String))
        typed = typed.with_columns(_errors=pl.when(pl.col("_errors") == "").then(None).otherwise(pl.col("_errors")),
                                   _flags=pl.lit(None, pl.String))
        src_cols = batch.select([pl.col(c).alias(f"_src_{i}") for i, c in enumerate(batch.columns) if c != "_row"])
        return pl.concat([typed, src_cols], how="horizontal")

    def _field(self, f: FieldSpec, src: Source) -> tuple[pl.Expr, pl.Expr]:
        c = pl.col(f.name)
        present = c.is_not_null()
        shown = c.str.slice(0, 60)

        def bad(value: pl.Expr, message: str) -> pl.Expr:
            return pl.when(present & value.is_null()).then(pl.format(message, shown))

        if f.kind in ("number", "int"):
            value = number_expr(c, self.mapping.decimal)
            if src.multiply is not None:
                value = value * src.multiply
            if f.kind == "int":
                whole = value.round(0) == value
                limit = INT32_MAX if f.name in INT_FIELDS_32 else 2**53
                error = pl.when(present & value.is_null()).then(pl.format(f"{f.name}: '{{}}' is not a number", shown)) \
                    .when(present & ~whole).then(pl.format(f"{f.name}: '{{}}' is not a whole number", shown)) \
                    .when(present & (value.abs() > limit)).then(pl.format(f"{f.name}: {{}} is out of range", shown))
                return pl.when(whole & (value.abs() <= limit)).then(value).cast(pl.Int64), error
            return value, bad(value, f"{f.name}: '{{}}' is not a number")
        if f.kind in ("datetime", "date"):
            formats = self.formats.get(f.name) or list(ISO_FORMATS)
            value = parse_datetime_expr(f.name, formats)
            shown_formats = ", ".join(formats[:3]) + (" …" if len(formats) > 3 else "")
            error = bad(value, f"{f.name}: '{{}}' is not a date in the file's format ({shown_formats})")
            return (value.dt.date() if f.kind == "date" else value), error
        if f.kind == "bool":
            table = {**dict.fromkeys(BOOL_TRUE, True), **dict.fromkeys(BOOL_FALSE, False),
                     **dict.fromkeys(BOOL_NULL, None)}
            table.update({k.strip().lower(): v for k, v in src.values.items()})
            key = c.str.to_lowercase()
            value = key.replace_strict(table, default=None, return_dtype=pl.Boolean)
            known = key.is_in(list(table))
            return value, pl.when(present & ~known).then(
                pl.format(f"{f.name}: '{{}}' is not yes/no (use true/false, yes/no or 1/0)", shown))
        if f.kind == "enum":
            table = _enum_table(f, src)
            key = c.str.to_lowercase().str.replace_all(r"[^0-9a-z+]+", "_").str.strip_chars("_")
            value = key.replace_strict(table, default=None, return_dtype=pl.String)
            if f.name == "company_size":
                employees = number_expr(c, "auto")
                value = pl.coalesce(value, pl.when(employees >= 1).then(_size_bucket(employees)))
            known = key.is_in(list(table)) | value.is_not_null()
            listed = ", ".join(f.vocab)
            return value, pl.when(present & ~known).then(
                pl.format(f"{f.name}: '{{}}' is not one of {listed}", shown))
        if f.kind == "category":
            if f.name == "channel":
                key = c.str.to_lowercase().str.replace_all(r"[^0-9a-z]+", "_").str.strip_chars("_")
                table = {**SYNONYMS["channel"], **{norm_key(k): v for k, v in src.values.items()}}
                value = key.replace_strict(table, default=key, return_dtype=pl.String)
            else:
                value = c.str.to_lowercase().str.replace_all(r"[_\s]+", " ").str.strip_chars()
                if src.values:
                    value = value.replace({k.lower(): v for k, v in src.values.items()})
            return self._length(f, value)
        if f.kind == "email":
            value = c.str.to_lowercase()
            ok = value.str.contains(EMAIL_RE) & (value.str.len_chars() <= 254)
            return pl.when(ok).then(value), pl.when(present & ~ok).then(
                pl.format(f"{f.name}: '{{}}' is not an email address", shown))
        return self._length(f, c)

    @staticmethod
    def _length(f: FieldSpec, value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        n = value.str.len_chars()
        too_long = n > f.max_length
        return pl.when(~too_long).then(value), pl.when(too_long).then(
            pl.format(f"{f.name} is {{}} characters long; the limit is {f.max_length:,}", n))


# -- staging


def estimated_rows(info: FileInfo) -> int:
    """Roughly how many rows a file holds, for the progress bar."""
    if info.kind == "parquet":
        try:
            return pq.ParquetFile(info.path).metadata.num_rows
        except Exception:  # a damaged file fails properly when it is read
            return 1
    with info.path.open("rb") as f:
        head = f.read(1 << 20)
    lines = max(head.count(b"\n"), 1)
    return max(int(info.size / (len(head) / lines)), 1)


@dataclass
class Staged:
    """A file read, coerced and staged as Parquet, ready to apply."""

    info: FileInfo
    mapping: Mapping  # with resolved date formats
    directory: Path
    rows_accepted: int
    rejects: list[tuple[int, str, str]]
    notes: list[str]
    source_columns: list[str]

    @property
    def rows_read(self) -> int:
        return self.rows_accepted + len(self.rejects)

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def stage(path: Path | str, mapping: Mapping, name: str | None = None, progress: PROGRESS | None = None,
          batch_rows: int = BATCH_ROWS, workdir: Path | None = None) -> Staged:
    """Read and coerce a file into Parquet batches in a private directory (no store lock held)."""
    info = inspect(path, name)
    reader = Reader(info, mapping, batch_rows=batch_rows)
    coercer = Coercer(mapping)

    def check() -> None:  # once the header is read
        coercer.mapping = resolve_columns(mapping, info.columns)
        check_columns(coercer.mapping, info.columns)

    directory = Path(tempfile.mkdtemp(prefix="flashdash-import-", dir=workdir))
    expected = estimated_rows(info)
    try:
        part = done = 0
        for batch in reader.batches():
            if part == 0:
                check()
                coercer.prepare(batch.head(5_000))
            coercer.coerce(batch).write_parquet(directory / f"part-{part:05d}.parquet")
            part += 1
            done += batch.height
            if progress:
                progress(min(0.6, 0.6 * done / max(expected, done)), f"Read and checked {done:,} rows")
        if part == 0:
            check()
            coercer.prepare(pl.DataFrame(schema=dict.fromkeys(info.columns, pl.String)))
            empty = pl.DataFrame(schema={c: pl.String for c in info.columns}).with_columns(_row=pl.lit(0, pl.Int64))
            coercer.coerce(empty).write_parquet(directory / "part-00000.parquet")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Staged(info=info, mapping=coercer.resolved_mapping(), directory=directory,
                  rows_accepted=reader.rows_accepted, rejects=reader.rejects, notes=coercer.notes,
                  source_columns=list(info.columns))


# -- applying


@dataclass
class ImportResult:
    import_id: int | None
    file_name: str
    entity: str
    rows_read: int
    imported: int
    updated: int
    skipped: int
    quarantined: int
    created: dict[str, int]
    flagged: int
    notes: list[str]
    mapping_yaml: str
    outcomes: pl.DataFrame  # row, outcome, reason, flags: one row per row read
    quarantine: pl.DataFrame  # row, reason, cells (JSON)
    seconds: float = 0.0
    dry_run: bool = False
    routed: int = 0  # recent open leads it created that were routed to a rep on arrival

    @property
    def counts(self) -> dict[str, int]:
        return {"rows_read": self.rows_read, "imported": self.imported, "updated": self.updated,
                "skipped": self.skipped, "quarantined": self.quarantined}

    def summary(self) -> str:
        verb = "Would import" if self.dry_run else "Imported"
        text = (f"{verb} {self.file_name} into {self.entity}: {self.rows_read:,} rows read, "
                f"{self.imported:,} new, {self.updated:,} updated, {self.skipped:,} skipped, "
                f"{self.quarantined:,} quarantined")
        if self.created:
            text += "; also created " + ", ".join(f"{t}: {n:,}" for t, n in self.created.items())
        if self.flagged:
            text += f"; {self.flagged:,} rows flagged for a near match"
        if self.routed:
            text += f"; {self.routed:,} new leads routed to reps on arrival"
        return text + "."


class _DryRun(Exception):
    def __init__(self, result: Any):
        self.result = result


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise AccessDenied("Only admins can import data.")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()
    return {name: kind for name, kind in rows}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


REF_KEYS = {  # how a reference finds its record: candidate expressions, tried in order
    "reps": ("external_id", "lower(email)", "lower(name)"),
    "leads": ("external_id", "email_bidx"),  # a lead's email is sealed: found by its blind index
    "customers": ("external_id", "lower(merchant_name)"),
    "teams": ("lower(name)",),
    "regions": ("lower(name)",),
}
REF_NAMES = {"reps": "name", "teams": "name", "regions": "name", "customers": "merchant_name",
             "leads": "merchant_name"}
UNIQUE_REFS = ("reps", "teams", "regions")  # two records answering to one name is an error here
CREATABLE = ("reps", "teams", "regions")
CATEGORY_COLUMNS = ("channel", "vertical", "lead_type", "behaviour_profile", "business_type")
# What an import writes of a lead's contact fields: sealed (flashdash.pii), with the indexes derived from them.
SEALED = {("leads", c): kind for c, kind in pii.LEAD_KINDS.items()}
DERIVED = {"email_bidx": "fd_bidx(email, 'email')", "phone_bidx": "fd_bidx(phone, 'phone')",
           "email_domain": "fd_domain(email)"}
DERIVED_FROM = {"email_bidx": "email", "phone_bidx": "phone", "email_domain": "email"}


@dataclass
class _Apply:
    con: duckdb.DuckDBPyConnection
    staged: Staged
    actor: Actor
    now: datetime
    import_id: int
    progress: PROGRESS | None = None
    created: dict[str, int] = field(default_factory=dict)

    @property
    def mapping(self) -> Mapping:
        return self.staged.mapping

    @property
    def spec(self) -> EntitySpec:
        return self.mapping.spec

    def x(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def error(self, condition: str, message_sql: str, params: list[Any] | None = None) -> None:
        self.x(f"UPDATE staged_rows SET _errors = concat_ws('; ', _errors, {message_sql}) WHERE {condition}", params)

    def flag(self, condition: str, message_sql: str, params: list[Any] | None = None) -> None:
        self.x(f"UPDATE staged_rows SET _flags = concat_ws('; ', _flags, {message_sql}) WHERE {condition}", params)

    def step(self, fraction: float, text: str) -> None:
        if self.progress:
            self.progress(fraction, text)

    def run(self) -> None:
        files = [str(p) for p in sorted(self.staged.directory.glob("*.parquet"))]
        self.x("CREATE OR REPLACE TEMP TABLE staged_rows AS SELECT * FROM read_parquet(?) WHERE _row > 0 ORDER BY _row",
               [files])
        self._renumber()
        self._derive_indexes()
        self.x("ALTER TABLE staged_rows ADD COLUMN _id BIGINT")
        self.x("ALTER TABLE staged_rows ADD COLUMN _new_id BIGINT")
        self.x("ALTER TABLE staged_rows ADD COLUMN _outcome VARCHAR")
        self.x("ALTER TABLE staged_rows ADD COLUMN _reason VARCHAR")
        self.step(0.65, "Resolving references")
        for f in self.spec.fields:
            if f.kind == "ref" and f.name in self.mapping.fields:
                self._resolve(f)
        if self.spec.name == "opportunities":
            self._opportunity_leads()
        self._categories()
        self.step(0.75, "Finding duplicates")
        self._match_existing()
        self._derive()
        self._outcomes()
        self.step(0.85, "Writing")
        self._write()

    def _derive_indexes(self) -> None:
        """A lead's blind indexes and email domain, from its readable email and phone while they are staged."""
        if self.spec.table != "leads":
            return
        cols = _stage_columns(self.con)
        pii.register(self.con)
        for column, expr in DERIVED.items():
            if DERIVED_FROM[column] in cols:
                self.x(f"ALTER TABLE staged_rows ADD COLUMN {column} VARCHAR")
                self.x(f"UPDATE staged_rows SET {column} = {expr}")

    def _value(self, column: str, expr: str, kind: str) -> str:
        """`expr` as the table column stores it: cast to its type, and sealed for a lead's contact field."""
        sealed = SEALED.get((self.spec.table, column))
        return f"fd_seal(CAST({expr} AS VARCHAR), '{sealed}')" if sealed else f"CAST({expr} AS {kind})"

    def _stored(self, column: str, expr: str) -> str:
        """A table column's value as comparable with a staged one (a sealed value opened)."""
        return f"fd_open({expr})" if (self.spec.table, column) in SEALED else expr

    def _renumber(self) -> None:
        """Accepted rows were numbered as read; rejected CSV lines sit between them."""
        rejected = sorted(r for r, _, _ in self.staged.rejects)
        if not rejected:
            return
        shifted = [r - i for i, r in enumerate(rejected)]  # accepted rows before each rejected one, plus one
        self.x("CREATE OR REPLACE TEMP TABLE _shift AS SELECT unnest(?) AS k", [shifted])
        self.x("UPDATE staged_rows SET _row = _row + (SELECT count(*) FROM _shift WHERE _shift.k <= staged_rows._row)")

    # references

    def _candidates(self, entity: str) -> pl.DataFrame:
        table = entity_spec(entity).table if entity in ("leads", "reps", "customers") else entity
        keys = REF_KEYS[entity]
        cols = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
        return self.con.sql(f"SELECT id, {cols}, {REF_NAMES[entity]} AS label FROM {table}").pl()

    def _resolve(self, f: FieldSpec) -> None:
        """Fill `<field>_id` from the record the cell names (by id, email or name, in that order)."""
        target = f.ref or ""
        name, col = _q(f.name), _q(f.target)
        self.x(f"ALTER TABLE staged_rows ADD COLUMN {col} BIGINT")
        values = self.con.sql(f"SELECT DISTINCT {name} AS v FROM staged_rows WHERE {name} IS NOT NULL").pl()
        if values.is_empty():
            return
        candidates = self._candidates(target)
        lookup = values.with_columns(key=pl.col("v").str.strip_chars().str.to_lowercase(), exact=pl.col("v"))
        if "email_bidx" in REF_KEYS[target]:
            ring = crypto.for_connection(self.con)
            lookup = lookup.with_columns(bidx=pl.Series([crypto.blind_index(ring, v, "email")
                                                         for v in values["v"].to_list()], dtype=pl.String))
        found: list[pl.DataFrame] = []
        for i, expr in enumerate(REF_KEYS[target]):
            seen = pl.concat(found)["v"] if found else pl.Series("v", [], pl.String)
            probe = {"external_id": "exact", "email_bidx": "bidx"}.get(expr, "key")
            found.append(candidates.filter(pl.col(f"k{i}").is_not_null())
                         .group_by(f"k{i}").agg(id=pl.col("id").min(), n=pl.len())
                         .join(lookup.filter(~pl.col("v").is_in(seen)), left_on=f"k{i}", right_on=probe)
                         .select("v", pl.col("id").cast(pl.Int64), pl.col("n").cast(pl.UInt32)))
        matched = pl.concat(found)
        ambiguous = matched.filter(pl.col("n") > 1) if target in UNIQUE_REFS else matched.clear()
        resolved = matched.filter(~pl.col("v").is_in(ambiguous["v"]))
        if ambiguous.height:
            self._with("_amb", ambiguous, lambda: self.error(
                f"{name} IN (SELECT v FROM _amb)",
                f"format('{f.name}: ''{{}}'' matches more than one of the {target}; use their id or email', {name})"))
        unresolved = values.filter(~pl.col("v").is_in(matched["v"]))["v"]
        near = pl.DataFrame(schema={"v": pl.String, "label": pl.String, "id": pl.Int64})
        if unresolved.len() and self.mapping.create_missing and target in CREATABLE:
            # Only for rows that can still be taken: a row already quarantined (a bad date, say) makes no rep.
            wanted = {v for (v,) in self.x(f"SELECT DISTINCT {name} FROM staged_rows WHERE {name} IS NOT NULL "
                                           "AND _errors IS NULL")}
            resolved = pl.concat([resolved, self._create(target, [v for v in unresolved.to_list() if v in wanted])])
        elif unresolved.len():
            near = _near_matches(unresolved, candidates.select("label", "id"))
        if near.height:
            label = f"(SELECT label FROM _near WHERE _near.v = staged_rows.{name})"
            if self.mapping.accept_near_matches:
                self._with("_near", near, lambda: self.flag(
                    f"{name} IN (SELECT v FROM _near)",
                    f"format('{f.name} ''{{}}'' read as ''{{}}''', {name}, {label})"))
                resolved = pl.concat([resolved, near.select("v", "id", n=pl.lit(1, pl.UInt32))])
            else:
                self._with("_near", near, lambda: self.error(
                    f"{name} IN (SELECT v FROM _near)",
                    f"format('{f.name} ''{{}}'' is not in the store; did you mean ''{{}}''? (accept near matches "
                    f"to use it)', {name}, {label})"))
        if resolved.height:
            self._with("_resolved", resolved, lambda: self.x(
                f"UPDATE staged_rows SET {col} = r.id FROM _resolved r WHERE staged_rows.{name} = r.v"))
        if self.spec.name == "opportunities" and f.name == "lead":
            return  # the account name may still find the lead (see _opportunity_leads)
        hint = ("import them first, or allow creating missing ones" if target in CREATABLE
                else f"import the {target} first")
        reported = pl.concat([ambiguous["v"], near["v"] if not self.mapping.accept_near_matches else near["v"].clear()])
        # Creating, only rows already quarantined miss their record: their own reason is the one to fix.
        created = " AND _errors IS NULL" if self.mapping.create_missing and target in CREATABLE else ""
        self._with("_reported", pl.DataFrame({"v": reported}, schema={"v": pl.String}), lambda: self.error(
            f"{name} IS NOT NULL AND {col} IS NULL AND {name} NOT IN (SELECT v FROM _reported){created}",
            f"format('{f.name} ''{{}}'' is not in the store (matched by id, email or name); {hint}', {name})"))

    def _with(self, name: str, frame: pl.DataFrame, action: Callable[[], Any]) -> None:
        """Run `action` with `frame` visible to SQL as `name`."""
        self.con.register(name, frame.to_arrow())
        try:
            action()
        finally:
            self.con.unregister(name)

    def _create(self, target: str, names: list[str]) -> pl.DataFrame:
        """Insert the reps, teams or regions the file names but the store lacks; returns name -> id."""
        frame = pl.DataFrame({"v": names}, schema={"v": pl.String}).unique().sort("v")
        if frame.is_empty():
            return pl.DataFrame(schema={"v": pl.String, "id": pl.Int64, "n": pl.UInt32})
        self.con.register("_new", frame.to_arrow())
        if target == "reps":
            rows = self.x("INSERT INTO reps (id, external_id, name, email, title, monthly_quota, active) "
                          "SELECT nextval('reps_id_seq'), NULL, v, CASE WHEN v LIKE '%@%' THEN lower(v) END, 'rep', "
                          "0, true FROM _new RETURNING id, name")
        else:
            rows = self.x(f"INSERT INTO {target} (id, name) SELECT nextval('{target}_id_seq'), v FROM _new "
                          "RETURNING id, name")
        self.con.unregister("_new")
        self._record_inserts(target, [r[0] for r in rows])
        self.created[target] = self.created.get(target, 0) + len(rows)
        return pl.DataFrame({"v": [r[1] for r in rows], "id": [r[0] for r in rows]},
                            schema={"v": pl.String, "id": pl.Int64}).with_columns(n=pl.lit(1, pl.UInt32))

    def _record_inserts(self, table: str, ids: list[int]) -> None:
        if ids:
            self.x("INSERT INTO import_changes (id, import_id, table_name, row_key, action) "
                   "SELECT nextval('import_changes_id_seq'), ?, ?, json_object('id', i), 'insert' FROM unnest(?) t(i)",
                   [self.import_id, table, ids])

    def _opportunity_leads(self) -> None:
        """A deal's lead: by the lead column, else by the account's name; with create_missing, a lead is
        made for an account the store does not know, as CRMs do when deals arrive without their leads."""
        fields = self.mapping.fields
        if "lead_id" not in _stage_columns(self.con):
            self.x("ALTER TABLE staged_rows ADD COLUMN lead_id BIGINT")
        if "merchant_name" in fields:
            self.x("UPDATE staged_rows SET lead_id = l.id FROM (SELECT lower(merchant_name) AS k, min(id) AS id FROM leads "
                   "WHERE merchant_name IS NOT NULL GROUP BY 1) l "
                   "WHERE staged_rows.lead_id IS NULL AND lower(staged_rows.merchant_name) = l.k")
            if self.mapping.create_missing:
                created_at = "created_at" if "created_at" in fields else "NULL"
                owner = "owner_id" if "owner" in fields else "NULL"
                won = "won" if "won" in fields else "NULL"
                stage_col = "stage" if "stage" in fields else "NULL"
                closed = "closed_at" if "closed_at" in fields else "NULL"
                rows = self.x(f"""
                    INSERT INTO leads (id, merchant_name, submitted_at, owner_id, status, status_changed_at)
                    SELECT nextval('leads_id_seq'), name, coalesce(first_at, $now), owner,
                           CASE WHEN any_won THEN 'won' WHEN all_lost THEN 'lost' ELSE 'opportunity' END,
                           CASE WHEN any_won OR all_lost THEN last_closed END
                    FROM (SELECT min(merchant_name) AS name, min({created_at}) AS first_at, min({owner}) AS owner,
                                 bool_or(coalesce({won}, {stage_col} = 'closed_won', false)) AS any_won,
                                 bool_and(coalesce({won} = false, {stage_col} = 'closed_lost', false)) AS all_lost,
                                 max({closed}) AS last_closed
                          FROM staged_rows WHERE lead_id IS NULL AND merchant_name IS NOT NULL AND _errors IS NULL
                          GROUP BY lower(merchant_name))
                    RETURNING id""", {"now": self.now})
                self._record_inserts("leads", [r[0] for r in rows])
                if rows:
                    self.created["leads"] = self.created.get("leads", 0) + len(rows)
                    self.x("UPDATE staged_rows SET lead_id = l.id FROM (SELECT lower(merchant_name) AS k, min(id) AS id "
                           "FROM leads WHERE merchant_name IS NOT NULL GROUP BY 1) l "
                           "WHERE staged_rows.lead_id IS NULL AND lower(staged_rows.merchant_name) = l.k")
        lead_given = "lead" in fields
        message = ("format('lead ''{}'' is not in the store; import the leads first', lead)" if lead_given
                   else "'the deal names no lead the store knows'")
        if lead_given:
            self.error("lead IS NOT NULL AND lead_id IS NULL AND _errors IS NULL", message)

    def _categories(self) -> None:
        """New values of open vocabularies that almost match a known one (restaurant / restaurants)."""
        table = self.spec.table
        have = _columns(self.con, table)
        for name in CATEGORY_COLUMNS:
            if name not in self.mapping.fields or name not in have:
                continue
            known = [r[0] for r in self.x(f"SELECT DISTINCT {_q(name)} FROM {table} WHERE {_q(name)} IS NOT NULL "
                                          "LIMIT 10000")]
            if not known:
                continue
            new = [r[0] for r in self.x(f"SELECT DISTINCT {_q(name)} FROM staged_rows WHERE {_q(name)} IS NOT NULL "
                                        f"AND {_q(name)} NOT IN (SELECT DISTINCT {_q(name)} FROM {table} "
                                        f"WHERE {_q(name)} IS NOT NULL) LIMIT {NEAR_MATCH_LIMIT}")]
            pairs = []
            for v in new:
                best = process.extractOne(v, known, scorer=fuzz.ratio, score_cutoff=NEAR_MATCH)
                if best:
                    pairs.append((v, best[0]))
            if not pairs:
                continue
            near = pl.DataFrame({"v": [p[0] for p in pairs], "label": [p[1] for p in pairs]})
            self.con.register("_near", near.to_arrow())
            cond = f"{_q(name)} IN (SELECT v FROM _near)"
            lookup = f"(SELECT label FROM _near WHERE _near.v = staged_rows.{_q(name)})"
            if self.mapping.accept_near_matches:
                self.flag(cond, f"format('{name} ''{{}}'' read as ''{{}}''', {_q(name)}, {lookup})")
                self.x(f"UPDATE staged_rows SET {_q(name)} = {lookup} WHERE {cond}")
            else:
                self.flag(cond, f"format('{name} ''{{}}'' almost matches ''{{}}''', {_q(name)}, {lookup})")
            self.con.unregister("_near")

    # duplicates and outcomes

    def _key_exprs(self) -> list[tuple[str, str]]:
        """(stage expression, table expression) for each natural key the mapping fills."""
        out = []
        for key in self.spec.keys:
            if key not in self.mapping.fields and not (key == "lead" and "lead_id" in _stage_columns(self.con)):
                continue
            f = self.spec.field(key)
            if f.kind == "ref":
                out.append((f.target, f.target))
            elif (self.spec.table, f.target) in SEALED and f"{f.target}_bidx" in _stage_columns(self.con):
                out.append((f"{f.target}_bidx", f"{f.target}_bidx"))  # sealed: matched by the blind index
            elif f.kind == "email" or key in ("name", "merchant_name"):
                out.append((f"lower(trim({_q(key)}))", f"lower(trim({_q(key)}))"))
            else:
                out.append((_q(key), _q(key)))
        return out

    def _match_existing(self) -> None:
        table = self.spec.table
        fields = self.mapping.fields
        if self.spec.name == "usage":
            if "customer_id" in _stage_columns(self.con) and "day" in fields:
                self.x("UPDATE staged_rows SET _id = 1 FROM customer_usage u WHERE u.customer_id = staged_rows.customer_id "
                       "AND u.day = staged_rows.day")
                self.x("ALTER TABLE staged_rows ADD COLUMN _ident VARCHAR")
                self.x("UPDATE staged_rows SET _ident = customer_id::VARCHAR || '/' || day::VARCHAR")
            else:
                raise ImportProblem("A usage import needs the customer and the day mapped.")
            return
        keys = self._key_exprs()
        # Without an id or other key, a row is known by its content, so a second import finds it again.
        mapped = [n for n in fields if n in _stage_columns(self.con)]
        content = " || '|' || ".join(f"coalesce(CAST({_q(n)} AS VARCHAR), '')" for n in mapped) or "''"
        if "external_id" not in fields:
            self.x("ALTER TABLE staged_rows ADD COLUMN external_id VARCHAR")
        all_null = " AND ".join(f"{s} IS NULL" for s, _ in keys) or "true"
        self.x(f"UPDATE staged_rows SET external_id = 'fp:' || substr(md5({content}), 1, 20) WHERE {all_null}")
        if ("external_id", "external_id") not in [(s.strip('"'), t.strip('"')) for s, t in keys]:
            keys = [('"external_id"', '"external_id"'), *keys]
        idents = []
        for i, (s_expr, t_expr) in enumerate(keys):
            self.x(f"UPDATE staged_rows SET _id = t.id FROM (SELECT {t_expr} AS k, min(id) AS id FROM {table} "
                   f"WHERE {t_expr} IS NOT NULL GROUP BY 1) t WHERE staged_rows._id IS NULL AND staged_rows.{s_expr} = t.k"
                   if not s_expr.startswith("lower(") else
                   f"UPDATE staged_rows SET _id = t.id FROM (SELECT {t_expr} AS k, min(id) AS id FROM {table} "
                   f"WHERE {t_expr} IS NOT NULL GROUP BY 1) t WHERE staged_rows._id IS NULL AND {s_expr} = t.k")
            idents.append(f"'k{i}:' || CAST({s_expr} AS VARCHAR)")
        self.x("ALTER TABLE staged_rows ADD COLUMN _ident VARCHAR")
        self.x(f"UPDATE staged_rows SET _ident = coalesce('id:' || CAST(_id AS VARCHAR), {', '.join(idents)})")

    def _derive(self) -> None:
        """Values one field implies for another, and the required fields of new records."""
        cols = _stage_columns(self.con)
        if self.spec.name == "opportunities":
            for name, kind in (("stage", "VARCHAR"), ("won", "BOOLEAN")):
                if name not in cols:
                    self.x(f"ALTER TABLE staged_rows ADD COLUMN {name} {kind}")
            # When a deal says won or lost, that decides its stage (Pipedrive keeps the last pipeline stage).
            self.x("UPDATE staged_rows SET stage = CASE WHEN won THEN 'closed_won' ELSE 'closed_lost' END "
                   "WHERE won IS NOT NULL")
            self.x("UPDATE staged_rows SET won = (stage = 'closed_won') WHERE won IS NULL AND stage IN "
                   "('closed_won', 'closed_lost')")
            self.x("UPDATE staged_rows SET stage = 'discovery' WHERE stage IS NULL AND _id IS NULL")
            if "closed_at" in cols:
                # An open deal has not closed: CRMs export one "Close Date" that is the expected date until
                # the deal closes, and presets map it to both fields.
                self.x("UPDATE staged_rows SET closed_at = NULL WHERE stage IN ('discovery', 'proposal', "
                       "'negotiation')")
        noun = self.spec.name.removesuffix("s") if self.spec.name != "usage" else "usage day"
        cols = _stage_columns(self.con)
        merge = self.mapping.on_duplicate == "merge"
        # Merging, a duplicate may supply what the first row lacked: judge the row's group, not the row.
        # Skipping, the group's first good row is taken as it is and must have everything itself, while a
        # later duplicate is skipped whatever it lacks. A row quarantined for one field can no longer supply
        # another, nor come first, so the check runs until nothing changes.
        while True:
            before = self._quarantined()
            for f in self.spec.fields:
                if not f.required:
                    continue
                col = f.target if f.kind == "ref" else f.name
                group = "SELECT 1 FROM staged_rows o WHERE o._ident = staged_rows._ident AND o._errors IS NULL"
                supplied = (f"OR EXISTS ({group} AND o.{_q(col)} IS NOT NULL)" if col in cols else "") if merge \
                    else f"OR EXISTS ({group} AND o._row < staged_rows._row)"
                missing = f"{_q(col)} IS NULL" if col in cols else "true"
                self.error(f"_id IS NULL AND _errors IS NULL AND {missing} AND NOT (false {supplied})",
                           f"'{f.name} is required for a new {noun} (the row matches no {noun} in the store)'")
            if self._quarantined() == before:
                break

    def _quarantined(self) -> int:
        return self.x("SELECT count(*) FROM staged_rows WHERE _errors IS NOT NULL")[0][0]

    def _value_columns(self) -> list[str]:
        """Stage columns that fill table columns: the mapped fields, as the table names them."""
        have = _columns(self.con, self.spec.table)
        cols = []
        for name, src in self.mapping.fields.items():
            if src.only_new:
                continue  # only for new records: see _write
            f = self.spec.field(name)
            target = f.target
            if target in have and target not in self.spec.key_columns:
                cols.append(target)
        stage_cols = _stage_columns(self.con)
        for extra in ("external_id", "lead_id", "stage", "won", *DERIVED):
            if extra in have and extra in stage_cols and extra not in cols:
                cols.append(extra)
        return cols

    def _new_only_columns(self) -> list[str]:
        """Stage columns of the fields the mapping fills only for new records."""
        have = _columns(self.con, self.spec.table)
        targets = [self.spec.field(n).target for n, src in self.mapping.fields.items() if src.only_new]
        return [t for t in targets if t in have and t not in self.spec.key_columns]

    def _outcomes(self) -> None:
        merge = self.mapping.on_duplicate == "merge"
        self.x("ALTER TABLE staged_rows ADD COLUMN _first BIGINT")
        self.x("UPDATE staged_rows SET _first = f.first FROM (SELECT _ident, min(_row) AS first FROM staged_rows "
               "WHERE _errors IS NULL GROUP BY 1) f WHERE staged_rows._ident = f._ident AND staged_rows._errors IS NULL")
        self.x("UPDATE staged_rows SET _outcome = 'quarantined', _reason = _errors WHERE _errors IS NOT NULL")
        merged = "; merged into it" if merge else ""
        self.x("UPDATE staged_rows SET _outcome = 'skipped', _reason = 'duplicate of row ' || _first || ' in this file' "
               "|| ? WHERE _outcome IS NULL AND _row <> _first", [merged])
        cols = self._value_columns()
        # Fields filled only for new records merge too: the group's first row may become one.
        merged_cols = cols + [c for c in self._new_only_columns() if c not in cols]
        if merge and merged_cols:
            # The group's last non-empty value of each field goes onto its first row.
            sets = ", ".join(f"{_q(c)} = g.{_q(c)}" for c in merged_cols)
            aggs = ", ".join(f"arg_max({_q(c)}, _row) FILTER (WHERE {_q(c)} IS NOT NULL) AS {_q(c)}"
                             for c in merged_cols)
            self.x(f"UPDATE staged_rows SET {sets} FROM (SELECT _ident, {aggs} FROM staged_rows WHERE _errors IS NULL "
                   "GROUP BY 1 HAVING count(*) > 1) g WHERE staged_rows._ident = g._ident AND staged_rows._row = staged_rows._first")
        self.x("UPDATE staged_rows SET _outcome = 'imported' WHERE _outcome IS NULL AND _id IS NULL")
        if not merge:
            self.x("UPDATE staged_rows SET _outcome = 'skipped', _reason = 'already in the store; duplicates are skipped' "
                   "WHERE _outcome IS NULL")
            return
        types = _columns(self.con, self.spec.table)
        changed = " OR ".join(f"(s.{_q(c)} IS NOT NULL AND CAST(s.{_q(c)} AS {types[c]}) IS DISTINCT FROM "
                              f"{self._stored(c, f't.{_q(c)}')})" for c in cols) or "false"
        on = self._existing_join("t", "s")
        self.x(f"UPDATE staged_rows SET _outcome = 'updated' FROM staged_rows s JOIN {self.spec.table} t ON {on} "
               f"WHERE staged_rows._row = s._row AND staged_rows._outcome IS NULL AND ({changed})")
        self.x("UPDATE staged_rows SET _outcome = 'skipped', _reason = 'unchanged: the store already has these values' "
               "WHERE _outcome IS NULL")

    def _existing_join(self, t: str, s: str) -> str:
        if self.spec.name == "usage":
            return f"{t}.customer_id = {s}.customer_id AND {t}.day = {s}.day"
        return f"{t}.id = {s}._id"

    def _write(self) -> None:
        table = self.spec.table
        types = _columns(self.con, table)
        update_cols = self._value_columns()
        defaults = {f.target: f.default for f in self.spec.fields if f.default is not None}
        new_only = [self.spec.field(n).target for n, src in self.mapping.fields.items() if src.only_new]
        cols = update_cols + [c for c in new_only if c in types and c not in update_cols]
        insert_cols = list(dict.fromkeys(cols + [c for c in defaults if c in types]))
        if self.spec.name == "usage":
            insert_cols = [c for c in insert_cols if c not in ("customer_id", "day")]
            key_cols = ["customer_id", "day"]
            key_vals = ["customer_id", "day"]
        else:
            self.x(f"UPDATE staged_rows SET _new_id = nextval('{table}_id_seq') WHERE _outcome = 'imported'")
            key_cols, key_vals = ["id"], ["_new_id"]
        values = []
        params: list[Any] = []
        for c in insert_cols:
            cast = self._value(c, _q(c), types[c]) if c in cols else "NULL"
            if c in defaults:
                values.append(f"coalesce({cast}, CAST(? AS {types[c]}))")
                params.append(defaults[c])
            else:
                values.append(cast)
        all_cols = ", ".join(_q(c) for c in key_cols + insert_cols)
        all_vals = ", ".join(key_vals + values)
        self.x(f"INSERT INTO {table} ({all_cols}) SELECT {all_vals} FROM staged_rows WHERE _outcome = 'imported' "
               "ORDER BY _row", params)
        key_json = ("json_object('customer_id', customer_id, 'day', day)" if self.spec.name == "usage"
                    else "json_object('id', _new_id)")
        self.x(f"INSERT INTO import_changes (id, import_id, table_name, row_key, action) "
               f"SELECT nextval('import_changes_id_seq'), ?, ?, {key_json}, 'insert' FROM staged_rows "
               "WHERE _outcome = 'imported'", [self.import_id, table])
        on = self._existing_join("t", "s")
        t_key = ("json_object('customer_id', t.customer_id, 'day', t.day)" if self.spec.name == "usage"
                 else "json_object('id', t.id)")
        if self.spec.name == "leads" and "status" in cols:
            self._stage_changes(on, updates="status" in update_cols)
        self.x(f"INSERT INTO import_changes (id, import_id, table_name, row_key, action, before) "
               f"SELECT nextval('import_changes_id_seq'), ?, ?, {t_key}, 'update', to_json(t)::VARCHAR "
               f"FROM {table} t JOIN staged_rows s ON {on} WHERE s._outcome = 'updated'", [self.import_id, table])
        if update_cols:
            sets = ", ".join(f"{_q(c)} = coalesce({self._value(c, f's.{_q(c)}', types[c])}, {table}.{_q(c)})"
                             for c in update_cols
                             if c not in ("customer_id", "day") or self.spec.name != "usage")
            on_table = on.replace("t.", f"{table}.")
            self.x(f"UPDATE {table} SET {sets} FROM staged_rows s WHERE {on_table} AND s._outcome = 'updated'")

    def _stage_changes(self, on: str, updates: bool) -> None:
        """Status changes an import makes are part of the lead's history, like any other change."""
        stage_cols = _stage_columns(self.con)
        changed_at = "coalesce(s.status_changed_at, $now)" if "status_changed_at" in stage_cols else "$now"
        submitted = "s.submitted_at" if "submitted_at" in stage_cols else "NULL"
        first_at = ("coalesce(s.status_changed_at, " if "status_changed_at" in stage_cols else "coalesce(") + \
            f"{submitted}, $now)"
        reason = f"import #{self.import_id}"
        new = self.x(f"""INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor, reason)
            SELECT nextval('lead_stage_changes_id_seq'), s._new_id, NULL, s.status,
                   CASE WHEN s.status = 'new' THEN coalesce({submitted}, $now) ELSE {first_at} END, $actor, $reason
            FROM staged_rows s WHERE s._outcome = 'imported' AND s.status IS NOT NULL RETURNING id""",
                     {"now": self.now, "actor": self.actor.username, "reason": reason})
        upd = self.x(f"""INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor, reason)
            SELECT nextval('lead_stage_changes_id_seq'), t.id, t.status, s.status, {changed_at}, $actor, $reason
            FROM leads t JOIN staged_rows s ON {on}
            WHERE $updates AND s._outcome = 'updated' AND s.status IS NOT NULL AND s.status IS DISTINCT FROM t.status
            RETURNING id""", {"now": self.now, "actor": self.actor.username, "reason": reason, "updates": updates})
        self._record_inserts("lead_stage_changes", [r[0] for r in new + upd])


def _near_matches(values: pl.Series, candidates: pl.DataFrame) -> pl.DataFrame:
    """Unknown names that almost match a known one: (v, label, id)."""
    out: dict[str, list[Any]] = {"v": [], "label": [], "id": []}
    labels = candidates.filter(pl.col("label").is_not_null())
    if 0 < values.len() <= NEAR_MATCH_LIMIT and 0 < labels.height <= 200_000:
        names = labels["label"].to_list()
        lowered = [n.lower() for n in names]
        ids = labels["id"].to_list()
        for v in values.to_list():
            best = process.extractOne(v.lower(), lowered, scorer=fuzz.ratio, score_cutoff=NEAR_MATCH)
            if best:
                out["v"].append(v)
                out["label"].append(names[best[2]])
                out["id"].append(ids[best[2]])
    return pl.DataFrame(out, schema={"v": pl.String, "label": pl.String, "id": pl.Int64})


def _stage_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'staged_rows'").fetchall()}


def _quarantine_frame(con: duckdb.DuckDBPyConnection, staged: Staged) -> pl.DataFrame:
    n_src = len(staged.source_columns)
    src_cols = ", ".join(f"_src_{i}" for i in range(n_src))
    rows = con.sql(f"SELECT _row, _reason{', ' + src_cols if src_cols else ''} FROM staged_rows "
                   "WHERE _outcome = 'quarantined' ORDER BY _row").pl()
    names = {f"_src_{i}": c for i, c in enumerate(staged.source_columns)}
    if rows.height and n_src:
        cells = rows.select(pl.struct([pl.col(k).alias(v) for k, v in names.items()]).struct.json_encode())
        cells = cells.to_series()
    else:
        cells = pl.Series([], dtype=pl.String) if not rows.height else pl.Series(["{}"] * rows.height)
    frame = pl.DataFrame({"row": rows["_row"].cast(pl.Int64), "reason": rows["_reason"].cast(pl.String),
                          "cells": cells}, schema={"row": pl.Int64, "reason": pl.String, "cells": pl.String})
    rejects = pl.DataFrame({"row": [r for r, _, _ in staged.rejects],
                            "reason": [f"the line could not be read: {why}" for _, why, _ in staged.rejects],
                            "cells": [json.dumps({"line": text}, ensure_ascii=False) for _, _, text in staged.rejects]},
                           schema={"row": pl.Int64, "reason": pl.String, "cells": pl.String})
    return pl.concat([frame, rejects]).sort("row")


def apply(con: duckdb.DuckDBPyConnection, staged: Staged, actor: Actor, now: datetime,
          progress: PROGRESS | None = None) -> ImportResult:
    """Apply a staged file inside the caller's unit of work, and record it."""
    t0 = time.perf_counter()
    ((import_id,),) = con.execute(
        "INSERT INTO imports (id, started_at, actor, file_name, file_sha256, entity, mapping, status, rows_read, "
        "imported, updated, skipped, quarantined) "
        "VALUES (nextval('imports_id_seq'), ?, ?, ?, ?, ?, ?, 'done', 0, 0, 0, 0, 0) RETURNING id",
        [now, actor.username, staged.info.name, staged.info.sha256, staged.mapping.entity,
         staged.mapping.to_yaml()]).fetchall()
    work = _Apply(con, staged, actor, now, import_id, progress)
    work.run()
    outcomes = con.sql("SELECT _row AS row, _outcome AS outcome, _reason AS reason, _flags AS flags FROM staged_rows "
                       "ORDER BY _row").pl()
    rejected = pl.DataFrame({"row": [r for r, _, _ in staged.rejects], "outcome": ["quarantined"] * len(staged.rejects),
                             "reason": [f"the line could not be read: {w}" for _, w, _ in staged.rejects],
                             "flags": [None] * len(staged.rejects)},
                            schema=outcomes.schema)
    outcomes = pl.concat([outcomes.with_columns(pl.col("row").cast(pl.Int64)), rejected]).sort("row")
    counts = {k: outcomes.filter(pl.col("outcome") == k).height for k in ("imported", "updated", "skipped",
                                                                            "quarantined")}
    if sum(counts.values()) != staged.rows_read or outcomes["outcome"].null_count():
        raise RuntimeError(f"import accounting failed: {counts} for {staged.rows_read} rows read")
    quarantine = _quarantine_frame(con, staged)
    if quarantine.height:
        sealed = pii.seal_series(crypto.for_connection(con), quarantine["cells"], "text")  # the file's own cells
        con.register("_quarantine", quarantine.with_columns(sealed).to_arrow())
        con.execute("INSERT INTO import_quarantine (id, import_id, row_number, reason, cells) "
                    "SELECT nextval('import_quarantine_id_seq'), ?, row, reason, cells FROM _quarantine", [import_id])
        con.unregister("_quarantine")
    flagged = outcomes.filter(pl.col("flags").is_not_null()).height
    con.execute("UPDATE imports SET finished_at = ?, rows_read = ?, imported = ?, updated = ?, skipped = ?, "
                "quarantined = ?, created = ? WHERE id = ?",
                [now, staged.rows_read, counts["imported"], counts["updated"], counts["skipped"],
                 counts["quarantined"], json.dumps(work.created) if work.created else None, import_id])
    audit.record(con, actor.username, "import", staged.mapping.entity, import_id, now,
                 after={"file": staged.info.name, "sha256": staged.info.sha256, "rows_read": staged.rows_read,
                        **counts, "created": work.created})
    con.execute("DROP TABLE IF EXISTS staged_rows")
    return ImportResult(
        import_id=import_id, file_name=staged.info.name, entity=staged.mapping.entity, rows_read=staged.rows_read,
        created=dict(work.created), flagged=flagged, notes=list(staged.notes), mapping_yaml=staged.mapping.to_yaml(),
        outcomes=outcomes, quarantine=quarantine, seconds=time.perf_counter() - t0, **counts)


def import_file(store: Store, actor: Actor, path: Path | str, mapping: Mapping, now: datetime, *,
                name: str | None = None, dry_run: bool = False, progress: PROGRESS | None = None) -> ImportResult:
    """Import one file into one entity: all of it or (on any failure) none of it."""
    _require_admin(actor)
    t0 = time.perf_counter()
    staged = stage(path, mapping, name=name, progress=progress)
    try:
        result = _apply_all(store, actor, [staged], now, dry_run, progress)[0]
    finally:
        staged.cleanup()
    result.seconds = time.perf_counter() - t0
    return result


def _memory_limit() -> str:
    value = os.environ.get("FLASHDASH_IMPORT_MEMORY", "1GB").strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)", value, flags=re.IGNORECASE):
        raise ImportProblem(f"FLASHDASH_IMPORT_MEMORY={value!r}: give a size such as 1GB or 512MB.")
    return value


def _apply_all(store: Store, actor: Actor, staged: list[Staged], now: datetime, dry_run: bool,
               progress: PROGRESS | None) -> list[ImportResult]:
    store.ensure_schema()
    try:
        with store.write() as con:
            # Bounded memory whatever the file's size: DuckDB spills the staged rows to disk beyond this.
            con.execute(f"SET memory_limit = '{_memory_limit()}'")
            results = [apply(con, s, actor, now, progress) for s in staged]
            if dry_run:
                for r in results:
                    r.dry_run, r.import_id = True, None
                raise _DryRun(results)
            faults.point("import.write")  # every row written, nothing committed: a kill here loses nothing
    except _DryRun as done:
        return done.result
    _arrivals(store, actor, results, now)
    if progress:
        progress(1.0, "Done")
    return results


ARRIVAL_DAYS = 30  # an imported lead submitted within this many days is new business, routed as it arrives


def _arrivals(store: Store, actor: Actor, results: list[ImportResult], now: datetime) -> None:
    """Recent open leads an import created go through what every arriving lead does (routing, score,
    qualification), in a unit of work of their own once the import is in: history is not routed again."""
    from flashdash import assignment, leads

    ids = store.frame("import_recent_leads", import_ids=[r.import_id for r in results],
                      since=now - timedelta(days=ARRIVAL_DAYS))["id"].to_list()
    if not ids:
        return
    with store.write() as con:
        routed = assignment.assign(store, con, ids, now, actor=actor.username)
        leads.arrived(store, con, ids, now)
    for r in results:
        r.routed = routed.filter(pl.col("rep_id").is_not_null()).height if r.entity == "leads" else 0



def find_files(directory: Path, pattern: str) -> Path:
    matches = sorted(directory.glob(pattern))
    if not matches:
        raise ImportProblem(f"{directory} has no file matching {pattern!r}; the preset expects it there.")
    return matches[0]


def import_preset(store: Store, actor: Actor, preset: Preset, directory: Path | str, now: datetime, *,
                  dry_run: bool = False, progress: PROGRESS | None = None) -> list[ImportResult]:
    """Every file of a preset, in order, in one transaction."""
    _require_admin(actor)
    directory = Path(directory)
    if not directory.is_dir():
        raise ImportProblem(f"{directory} is not a directory; give the directory that holds the export files.")
    staged: list[Staged] = []
    try:
        for step in preset.steps:
            matches = sorted(directory.glob(step.file))
            if not matches and step.optional:
                continue
            staged.append(stage(find_files(directory, step.file), step.mapping, progress=progress))
        if not staged:
            raise ImportProblem(f"{directory} has none of the files the {preset.name} preset reads "
                                f"({', '.join(s.file for s in preset.steps)}).")
        return _apply_all(store, actor, staged, now, dry_run, progress)
    finally:
        for s in staged:
            s.cleanup()


# -- history and undo


def history(store: Store, actor: Actor, limit: int = 200) -> pl.DataFrame:
    _require_admin(actor)
    return store.frame("imports_recent", limit=limit)


def quarantine(store: Store, actor: Actor, import_id: int) -> pl.DataFrame:
    """An import's quarantined rows, one column per column of the file, with the reason first."""
    _require_admin(actor)
    rows = store.frame("import_quarantine_rows", import_id=import_id)
    return quarantine_table(rows)


def quarantine_table(rows: pl.DataFrame) -> pl.DataFrame:
    if rows.is_empty():
        return pl.DataFrame(schema={"row": pl.Int64, "reason": pl.String})
    cells = [json.loads(c) for c in rows["cells"].to_list()]
    columns = list(dict.fromkeys(k for c in cells for k in c))
    data: dict[str, Any] = {"row": rows["row"].to_list(), "reason": rows["reason"].to_list()}
    for col in columns:
        data[col if col not in data else f"{col} (file)"] = [c.get(col) for c in cells]
    return pl.DataFrame(data, schema={k: (pl.Int64 if k == "row" else pl.String) for k in data})


def undo(store: Store, actor: Actor, import_id: int, now: datetime) -> dict[str, int]:
    """Take an import back: delete what it inserted, restore what it updated. Refused when a later import
    changed the same records (undo that one first)."""
    _require_admin(actor)
    with store.write() as con:
        rows = con.execute("SELECT status, entity FROM imports WHERE id = ?", [import_id]).fetchall()
        if not rows:
            raise ImportProblem(f"There is no import #{import_id}.")
        if rows[0][0] == "undone":
            raise ImportProblem(f"Import #{import_id} was already undone.")
        later = con.execute("""SELECT DISTINCT b.import_id FROM import_changes a
            JOIN import_changes b ON a.table_name = b.table_name AND a.row_key = b.row_key AND b.import_id > a.import_id
            JOIN imports i ON i.id = b.import_id AND i.status = 'done'
            WHERE a.import_id = ? ORDER BY 1""", [import_id]).fetchall()
        if later:
            ids = ", ".join(f"#{r[0]}" for r in later)
            raise ImportProblem(f"Import {ids} changed the same records after #{import_id}; undo it first.")
        _refuse_if_referenced(con, import_id)
        for table, derived in DERIVED_FROM_LEADS.items():
            con.execute(f"DELETE FROM {_q(table)} t USING import_changes c WHERE c.import_id = ? "  # noqa: S608
                        f"AND c.table_name = 'leads' AND c.action = 'insert' "
                        f"AND t.lead_id = CAST(c.row_key->>'id' AS BIGINT) AND {derived}", [import_id])
        counts: dict[str, int] = {}
        tables = [r[0] for r in con.execute("SELECT DISTINCT table_name FROM import_changes WHERE import_id = ?",
                                            [import_id]).fetchall()]
        for table in tables:
            types = _columns(con, table)
            if not types:
                continue
            keyed = "customer_id" in types and "id" not in types
            key_match = ("t.customer_id = CAST(c.row_key->>'customer_id' AS BIGINT) AND "
                         "t.day = CAST(c.row_key->>'day' AS DATE)") if keyed else "t.id = CAST(c.row_key->>'id' AS BIGINT)"
            ((n_del,),) = con.execute(
                "SELECT count(*) FROM import_changes c WHERE c.import_id = ? AND c.table_name = ? "
                "AND c.action = 'insert'", [import_id, table]).fetchall()
            con.execute(f"DELETE FROM {_q(table)} t USING import_changes c WHERE c.import_id = ? AND c.table_name = ? "
                        f"AND c.action = 'insert' AND {key_match}", [import_id, table])
            sets = ", ".join(f"{_q(c)} = CAST(json_extract_string(c.before, '$.{c}') AS {kind})"
                             for c, kind in types.items() if c not in ("id",))
            ((n_upd,),) = con.execute(
                "SELECT count(*) FROM import_changes WHERE import_id = ? AND table_name = ? AND action = 'update'",
                [import_id, table]).fetchall()
            if n_upd:
                con.execute(f"UPDATE {_q(table)} t SET {sets} FROM import_changes c WHERE c.import_id = ? "
                            f"AND c.table_name = ? AND c.action = 'update' AND {key_match}", [import_id, table])
            counts[table] = n_del + n_upd
        con.execute("UPDATE imports SET status = 'undone', undone_at = ?, undone_by = ? WHERE id = ?",
                    [now, actor.username, import_id])
        audit.record(con, actor.username, "undo_import", rows[0][1], import_id, now, after=counts)
    return counts


# What the system derived for a lead (its score, its routing, the stages its rules moved it through) goes
# with the lead when an undo deletes it; what people did with it (activities, tasks, their stage moves) does not.
DERIVED_FROM_LEADS = {"lead_scores": "true", "lead_assignments": "true", "lead_stage_changes": "t.actor LIKE 'rule%'"}

# Columns that point at another table's rows, wherever they appear (leads.owner_id, activities.lead_id, ...).
REFERENCE_COLUMNS = {"lead_id": "leads", "owner_id": "reps", "rep_id": "reps", "manager_id": "reps",
                     "customer_id": "customers", "team_id": "teams", "region_id": "regions"}


def _refuse_if_referenced(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
    """Undoing an import deletes the rows it inserted; rows written since that point at them (an activity
    imported for an imported lead, a lead given to a created rep) would be left pointing at nothing."""
    inserted = {t for (t,) in con.execute("SELECT DISTINCT table_name FROM import_changes WHERE import_id = ? "
                                          "AND action = 'insert'", [import_id]).fetchall()}
    refs = con.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                       "AND table_catalog = current_database() AND column_name IN (SELECT unnest(?)) ORDER BY 1, 2", [list(REFERENCE_COLUMNS)]).fetchall()
    for table, column in refs:
        target = REFERENCE_COLUMNS[column]
        if target not in inserted:
            continue
        derived = DERIVED_FROM_LEADS.get(table, "false") if target == "leads" else "false"
        has_id = "id" in _columns(con, table)
        own = ("t.id = CAST(o.row_key->>'id' AS BIGINT)" if has_id else
               "t.customer_id = CAST(o.row_key->>'customer_id' AS BIGINT) AND t.day = CAST(o.row_key->>'day' AS DATE)"
               if table == "customer_usage" else "false")
        # The import's own rows do not count: undo deletes or restores them too.
        ((n,),) = con.execute(
            f"SELECT count(*) FROM {_q(table)} t JOIN import_changes c ON c.import_id = $id AND c.table_name = $target "
            f"AND c.action = 'insert' AND t.{_q(column)} = CAST(c.row_key->>'id' AS BIGINT) "
            f"WHERE NOT EXISTS (SELECT 1 FROM import_changes o WHERE o.import_id = $id AND o.table_name = $table "
            f"AND {own}) AND NOT ({derived})", {"id": import_id, "target": target, "table": table}).fetchall()
        if n:
            raise ImportProblem(f"{n:,} {table} row(s) written since import #{import_id} refer to {target} it "
                                f"created ({table}.{column}); undoing it would leave them pointing at nothing. "
                                "Undo or change those first.")


def check_mapping(mapping: Mapping) -> None:
    if not mapping.fields:
        raise MappingError("The mapping maps no column; map at least one field.")
