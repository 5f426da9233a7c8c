"""Fuzzing the import path: files with odd headers, broken lines, malformed and huge cells, in UTF-8, UTF-8 with
a BOM and Latin-1, as CSV, Excel and Parquet. Whatever comes in, the import either refuses the file with a
clear problem, changing nothing, or accounts for every row it read."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashdash import imports, mapping
from flashdash.access import Actor
from flashdash.store import Store, copy_file
from tests.conftest import NOW

ADMIN = Actor(username="fuzz", name="Fuzz", role="admin")
FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# The columns a mapping may name, with the field each fills.
KNOWN = {"Lead ID": "external_id", "Company": "merchant_name", "Email": "email", "Created": "submitted_at",
         "Status": "status", "Owner": "owner", "Volume": "monthly_volume", "Employees": "company_size",
         "Active": "interest_level", "Notes": "campaign"}

GOOD_CELLS = {
    "Lead ID": st.sampled_from(["L1", "L2", "L3", "F1", "F2", "F2", " F3 ", "fp", "0001"]),
    "Company": st.sampled_from(["Acme", "Café Central", "Padaria Pão Quente", "Zoë's", "ACME"]),
    "Email": st.sampled_from(["a@x.example", "A@X.EXAMPLE", "maria@paoquente.example", "bad@", "@", "x@y"]),
    "Created": st.sampled_from(["2025-03-14", "3/14/2025 10:22 AM", "14/03/2025", "03/04/2025", "2025-02-30",
                                "2025-03-14T10:22:00+02:00", "14.03.2025", "Mar 14, 2025", "0025-01-01", "soon"]),
    "Status": st.sampled_from(["new", "Open - Not Contacted", "Marketing Qualified Lead", "customer", "Other",
                               "Nurturing", "WON"]),
    "Owner": st.sampled_from(["Ana Costa", "Anna Costa", "ben@flash.example", "Zed Zero", "ana costa"]),
    "Volume": st.sampled_from(["1,234.50", "1.234,50", "(12)", "$1,200", "R$ 300,00", "-", "1e400", "12abc", "0"]),
    "Employees": st.sampled_from(["12", "1,000", "11-50", "lots", "0", "-3", "1000+"]),
    "Active": st.sampled_from(["hot", "Warm", "A", "c", "tepid"]),
    "Notes": st.sampled_from(["fine", "x" * 499, "x" * 501]),
}

ODD_CELLS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(list(',;"\'\n\r\t\x00|\\ {}:$€')), max_size=8),
    st.sampled_from(["", " ", "NULL", "n/a", "#N/A", "nan", "inf", "-0", "1e308", "9" * 40, "\ufeff", "\u202e",
                     "=1+1", "\x00\x00"]),
    st.sampled_from(["x", "é", "a,b", '"', "\n"]).map(lambda c: c * 100_000),  # huge fields
)

ODD_HEADERS = st.one_of(
    st.sampled_from(["", " ", "_row", "_errors", "_src_0", "column1", "Lead ID", "lead id", "LEAD ID ", "a,b", 'q"q',
                     "line\nbreak", "Ünïcode", "Email", "\ufeffEmail", "x" * 300]),
    st.text(max_size=10),
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A CSV file's bytes and a mapping for it (which may name a column the file lacks)."""
    known = draw(st.lists(st.sampled_from(list(KNOWN)), min_size=0, max_size=6, unique=True))
    extra = draw(st.lists(ODD_HEADERS, max_size=3))
    header = draw(st.permutations(known + extra))
    fields = {KNOWN[c]: c for c in known}
    if draw(st.booleans()) and "Created" not in known:
        fields["submitted_at"] = "Created"  # a mapping naming a column the file lacks
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1, 2]))  # too few or too many cells
        row = []
        for i in range(max(width, 0)):
            column = header[i] if i < len(header) else None
            good = GOOD_CELLS.get(column) if column is not None else None
            row.append(draw(good if good is not None and draw(st.booleans()) else ODD_CELLS))
        rows.append(row)
    quoting = draw(st.sampled_from(["minimal", "all", "none"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [] if draw(st.integers(0, 9)) == 0 else [header]  # sometimes the header row is missing
    lines += rows
    if quoting == "none":
        text = "".join(",".join(r) + newline for r in lines)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=newline,
                            quoting=csv.QUOTE_ALL if quoting == "all" else csv.QUOTE_MINIMAL)
        writer.writerows(lines)
        text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-8+junk"]))
    if encoding == "latin-1":
        data = text.encode("latin-1", errors="replace")
    elif encoding == "utf-8+junk":
        data = text.encode("utf-8")
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\x80\x80"])) + data[at:]
    else:
        data = text.encode(encoding)
    options: dict[str, Any] = {"fields": fields}
    options["on_duplicate"] = draw(st.sampled_from(["merge", "skip"]))
    options["create_missing"] = draw(st.booleans())
    options["accept_near_matches"] = draw(st.booleans())
    return data, options


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store with two reps and two leads to collide with."""
    root = tmp_path_factory.mktemp("fuzz-template")
    store = Store(root / "template.duckdb")
    store.ensure_schema(NOW)
    (root / "reps.csv").write_text("Name,Email\nAna Costa,ana@flash.example\nBen Ode,ben@flash.example\n")
    imports.import_file(store, ADMIN, root / "reps.csv",
                        mapping.from_dict({"entity": "reps", "fields": {"name": "Name", "email": "Email"}}), NOW)
    (root / "leads.csv").write_text("Lead ID,Email,Created\nL1,maria@paoquente.example,2025-01-01\n"
                                    "L2,a@x.example,2025-01-02\n")
    imports.import_file(store, ADMIN, root / "leads.csv", mapping.from_dict(
        {"entity": "leads", "fields": {"external_id": "Lead ID", "email": "Email", "submitted_at": "Created"}}), NOW)
    return store.path


_counter = itertools.count()


def _fresh(template: Path, tmp_path: Path) -> Store:
    path = tmp_path / f"s{next(_counter)}" / "store.duckdb"
    path.parent.mkdir()
    copy_file(template, path)
    return Store(path)


def _snapshot(store: Store) -> dict[str, list[tuple]]:
    with store.read() as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


def _check(store: Store, path: Path, fields: dict[str, Any], **options: Any) -> imports.ImportResult | None:
    """Import `path`; the property every import keeps, whatever the file."""
    before = _snapshot(store)
    leads_before = len(before["leads"])
    try:
        m = mapping.from_dict({"entity": "leads", "fields": fields, **options})
        result = imports.import_file(store, ADMIN, path, m, NOW)
    except (imports.ImportProblem, mapping.MappingError) as problem:
        assert str(problem)  # a message a person can act on
        assert _snapshot(store) == before  # and nothing changed
        return None
    assert result.imported + result.updated + result.skipped + result.quarantined == result.rows_read
    assert result.outcomes.height == result.rows_read
    assert result.outcomes["row"].to_list() == list(range(1, result.rows_read + 1))
    assert result.outcomes["outcome"].null_count() == 0
    quarantined = result.outcomes.filter(pl.col("outcome") == "quarantined")
    assert quarantined["reason"].null_count() == 0
    assert result.quarantine["row"].to_list() == quarantined["row"].to_list()
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM leads").fetchone()[0] == leads_before + result.imported
        recorded = con.execute("SELECT rows_read, imported, updated, skipped, quarantined FROM imports WHERE id = ?",
                               [result.import_id]).fetchone()
        assert recorded == (result.rows_read, result.imported, result.updated, result.skipped, result.quarantined)
        assert con.execute("SELECT count(*) FROM import_quarantine WHERE import_id = ?",
                           [result.import_id]).fetchone()[0] == result.quarantined
    return result


@settings(FUZZ, max_examples=120)
@given(case=csv_files())
def test_any_csv_is_refused_clearly_or_every_row_is_accounted_for(template: Path, tmp_path: Path,
                                                                   case: tuple[bytes, dict[str, Any]]) -> None:
    data, options = case
    store = _fresh(template, tmp_path)
    path = store.path.parent / "fuzz.csv"
    path.write_bytes(data)
    _check(store, path, options.pop("fields"), **options)


CELL_VALUES = st.one_of(st.none(), GOOD_CELLS["Created"], GOOD_CELLS["Volume"], GOOD_CELLS["Email"],
                        st.text(max_size=20),
                        st.sampled_from(["x", "é", "\x00", "\n"]).map(lambda c: c * 30_000))


@st.composite
def frames(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A frame of text with the mapped columns and a couple of fuzzed ones, and a mapping for it."""
    n = draw(st.integers(0, 6))
    data: dict[str, list[Any]] = {
        "Lead ID": draw(st.lists(st.one_of(st.none(), GOOD_CELLS["Lead ID"]), min_size=n, max_size=n)),
        "Created": draw(st.lists(st.one_of(st.none(), GOOD_CELLS["Created"]), min_size=n, max_size=n)),
    }
    for name in draw(st.lists(st.sampled_from(["Email", "Volume", "Company", "_row", "", "Ünï"]), max_size=3,
                              unique=True)):
        data[name] = draw(st.lists(CELL_VALUES, min_size=n, max_size=n))
    fields = {"external_id": "Lead ID", "submitted_at": "Created"}
    fields.update({KNOWN[c]: c for c in data if c in ("Email", "Volume", "Company")})
    return pl.DataFrame(data, schema=dict.fromkeys(data, pl.String)), fields


@settings(FUZZ, max_examples=30)
@given(case=frames())
def test_any_excel_sheet_is_refused_clearly_or_every_row_is_accounted_for(template: Path, tmp_path: Path,
                                                                          case: tuple[pl.DataFrame, Any]) -> None:
    frame, fields = case
    store = _fresh(template, tmp_path)
    path = store.path.parent / "fuzz.xlsx"
    frame.write_excel(path, autofit=False)
    result = _check(store, path, fields)
    # Rows with no value at all (None or "" in every cell) are not data, as blank lines in a CSV are not.
    filled = frame.select(pl.any_horizontal(pl.all().is_not_null() & (pl.all() != ""))).to_series()
    assert result is not None and result.rows_read == filled.sum()


TYPED = st.sampled_from([
    pl.Series([1, None, -5], dtype=pl.Int64), pl.Series([1.5, float("nan"), float("inf")]),
    pl.Series([date(2025, 3, 14), None, date(1, 1, 1)]), pl.Series([datetime(2025, 3, 14, 10, 22), None, None]),
    pl.Series([True, False, None]), pl.Series([[1, 2], None, []]), pl.Series([b"\xff\xfe", b"", None]),
    pl.Series([{"a": 1}, {"a": None}, None]), pl.Series(["x" * 50_000, "\x00", "ok"]), pl.Series([None, None, None]),
])


@settings(FUZZ, max_examples=30)
@given(created=TYPED, volume=TYPED, extra=TYPED, ids=TYPED)
def test_any_parquet_columns_are_refused_clearly_or_every_row_is_accounted_for(
        template: Path, tmp_path: Path, created: pl.Series, volume: pl.Series, extra: pl.Series,
        ids: pl.Series) -> None:
    frame = pl.DataFrame([ids.alias("Lead ID"), created.alias("Created"), volume.alias("Volume"), extra.alias("_row")])
    store = _fresh(template, tmp_path)
    path = store.path.parent / "fuzz.parquet"
    frame.write_parquet(path)
    result = _check(store, path, {"external_id": "Lead ID", "submitted_at": "Created", "monthly_volume": "Volume",
                                  "campaign": "_row (file)"})
    assert result is not None and result.rows_read == 3
