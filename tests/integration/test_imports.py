"""Imports against real stores: every entity from CSV, Excel and Parquet, quarantine with reasons, duplicates,
re-imports that change nothing, undo, the import record, dry runs, refusals, atomicity (an exception and a
real kill), the CRM presets end to end, and the command line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from flashdash import faults, imports, mapping
from flashdash.__main__ import main
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store, copy_file
from tests import stored
from tests.conftest import NOW, ROOT

ADMIN = Actor(username="ada", name="Ada Admin", role="admin")
MANAGER = Actor(username="max", name="Max Manager", role="manager", rep_id=1, scope_reps=(1,))
EXPORTS = ROOT / "tests" / "fixtures" / "exports"
LOG_TABLES = ("imports", "import_changes", "import_quarantine", "audit_log")


# -- stores and files


def _csv(path: Path, rows: list[list[str]]) -> Path:
    pl.DataFrame({c: [r[i] for r in rows[1:]] for i, c in enumerate(rows[0])},
                 schema=dict.fromkeys(rows[0], pl.String)).write_csv(path)
    return path


def _write(frame: pl.DataFrame, path: Path) -> Path:
    """A frame written as its suffix says, as another program would have made it."""
    if path.suffix == ".csv":
        frame.write_csv(path)
    elif path.suffix == ".xlsx":
        frame.write_excel(path, autofit=False)
    else:
        frame.write_parquet(path)
    return path


def _frame(rows: list[list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame({c: [r[i] for r in rows[1:]] for i, c in enumerate(rows[0])},
                        schema=dict.fromkeys(rows[0], pl.String))


def _run(store: Store, path: Path, entity: str, fields: dict[str, Any], actor: Actor = ADMIN,
         dry_run: bool = False, **options: Any) -> imports.ImportResult:
    m = mapping.from_dict({"entity": entity, "fields": fields, **options})
    result = imports.import_file(store, actor, path, m, NOW, dry_run=dry_run)
    _accounted(result)
    return result


def _accounted(result: imports.ImportResult) -> None:
    """The invariant of every import: each row read has one outcome, and the counts add up."""
    assert result.imported + result.updated + result.skipped + result.quarantined == result.rows_read
    assert result.outcomes.height == result.rows_read
    assert result.outcomes["row"].to_list() == list(range(1, result.rows_read + 1))
    assert result.quarantine.height == result.quarantined


def _tables(store: Store, skip: tuple[str, ...] = ()) -> dict[str, pl.DataFrame]:
    """Every table, rows sorted, so that two states of a store compare by content."""
    with store.read() as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
                 if n not in skip]
        return {n: (f := con.sql(f'SELECT * FROM "{n}"').pl()).sort(f.columns, nulls_last=True) for n in names}


def _same(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        try:
            assert_frame_equal(after[name], before[name])
        except AssertionError as exc:
            raise AssertionError(f"table {name} changed: {exc}") from None


def _rows(store: Store, sql: str, **params: Any) -> list[tuple]:
    return stored.rows(store, sql, params)


def _one(store: Store, sql: str, **params: Any) -> Any:
    return _rows(store, sql, **params)[0][0]


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = Store(tmp_path_factory.mktemp("empty") / "empty.duckdb")
    store.ensure_schema(NOW)
    return store.path


LEAD_FIELDS = {"external_id": "Lead ID", "merchant_name": "Company", "contact_name": "Contact", "email": "Email",
               "phone": "Phone", "submitted_at": "Created", "status": "Status", "owner": "Owner",
               "vertical": "Industry", "company_size": "Employees"}


@pytest.fixture(scope="session")
def seeded_template(empty_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two teams of reps, three leads and two customers, put there by imports."""
    root = tmp_path_factory.mktemp("seeded")
    store = Store(root / "seeded.duckdb")
    copy_file(empty_template, store.path)
    reps = _csv(root / "reps.csv", [
        ["ID", "Name", "Email", "Title", "Team", "Quota"],
        ["R1", "Ana Costa", "ana@flash.example", "Account Executive", "Hunters", "10,000"],
        ["R2", "Ben Ode", "ben@flash.example", "SDR", "Hunters", "4,000"],
        ["R3", "Carla Dias", "carla@flash.example", "Sales Manager", "Farmers", "0"],
    ])
    _run(store, reps, "reps", {"external_id": "ID", "name": "Name", "email": "Email", "title": "Title",
                               "team": "Team", "monthly_quota": "Quota"}, create_missing=True)
    leads = _csv(root / "leads.csv", [
        ["Lead ID", "Company", "Contact", "Email", "Phone", "Created", "Status", "Owner", "Industry", "Employees"],
        ["L1", "Padaria Pão Quente", "Maria Silva", "maria@paoquente.example", "555-0101", "2025-03-01 09:00",
         "new", "Ana Costa", "Restaurants", "12"],
        ["L2", "Acme Hardware", "John Roe", "john@acme.example", "", "2025-03-02 10:00", "mql", "Ben Ode",
         "Retail", "120"],
        ["L3", "Café Central", "Lucía Pérez", "lucia@cafecentral.example", "", "2025-03-03 11:00", "sql",
         "ana@flash.example", "Restaurants", "45"],
    ])
    _run(store, leads, "leads", LEAD_FIELDS)
    customers = _csv(root / "customers.csv", [
        ["ID", "Lead", "Company", "Won", "Owner"],
        ["C1", "L3", "Café Central", "2025-04-01", "Ana Costa"],
        ["C2", "", "Old Mill Bakery", "2025-04-02", "Carla Dias"],
    ])
    _run(store, customers, "customers", {"external_id": "ID", "lead": "Lead", "merchant_name": "Company",
                                         "won_at": "Won", "owner": "Owner"})
    return store.path


@pytest.fixture
def empty(empty_template: Path, tmp_path: Path) -> Store:
    path = tmp_path / "store" / "flashdash.duckdb"
    path.parent.mkdir()
    copy_file(empty_template, path)
    return Store(path)


@pytest.fixture
def store(seeded_template: Path, tmp_path: Path) -> Store:
    path = tmp_path / "store" / "flashdash.duckdb"
    path.parent.mkdir()
    copy_file(seeded_template, path)
    return Store(path)


@pytest.fixture
def demo(demo_store: Store, tmp_path: Path) -> Store:
    path = tmp_path / "demo" / "demo.duckdb"
    path.parent.mkdir()
    copy_file(demo_store.path, path)
    return Store(path)


# -- every entity from every format


ENTITY_CASES: dict[str, dict[str, Any]] = {
    "leads": {
        "rows": [
            ["Lead ID", "Company", "Email", "Created", "Status", "Owner", "Employees", "Volume"],
            ["L10", "Kwik Mart", "apu@kwikmart.example", "3/14/2025 10:22 AM", "Working - Contacted", "Ana Costa",
             "1,200", "$12,500.00"],
            ["L11", "Blue Moon Bakery", "LENA@BLUEMOON.EXAMPLE", "3/15/2025 9:00 AM", "Open - Not Contacted",
             "ben@flash.example", "8", "900"],
            ["L1", "", "", "", "Sales Qualified Lead", "", "", ""],  # an update: only the status changes
            ["L12", "Broken Email Ltd", "nope@", "3/16/2025 1:00 PM", "new", "Ana Costa", "5", "1"],
        ],
        "fields": {"external_id": "Lead ID", "merchant_name": "Company", "email": "Email", "submitted_at": "Created",
                   "status": "Status", "owner": "Owner", "company_size": "Employees", "monthly_volume": "Volume"},
        "counts": (2, 1, 0, 1),
        "check": [
            ("SELECT email, status, company_size, monthly_volume, submitted_at FROM leads WHERE external_id = 'L10'",
             [("apu@kwikmart.example", "mql", "1000+", 12500.0, datetime(2025, 3, 14, 10, 22))]),
            ("SELECT l.email, r.name FROM leads l JOIN reps r ON r.id = l.owner_id WHERE l.external_id = 'L11'",
             [("lena@bluemoon.example", "Ben Ode")]),
            ("SELECT status, merchant_name, email FROM leads WHERE external_id = 'L1'",
             [("sql", "Padaria Pão Quente", "maria@paoquente.example")]),
            ("SELECT count(*) FROM leads WHERE external_id = 'L12'", [(0,)]),
        ],
    },
    "reps": {
        "rows": [
            ["Employee ID", "Full name", "Work email", "Role", "Quota", "Hired", "Active"],
            ["R10", "Dan Reis", "dan@flash.example", "BDR", "3.500", "02/01/2024", "yes"],
            ["R11", "Eva Luz", "eva@flash.example", "sales rep", "", "15/03/2024", "TRUE"],
            ["", "Ana Costa", "", "", "12.000", "", "no"],  # found by name: quota and active change
            ["R12", "Fay Wu", "fay@flash.example", "intern", "1", "01/04/2024", "1"],
        ],
        "fields": {"external_id": "Employee ID", "name": "Full name", "email": "Work email", "title": "Role",
                   "monthly_quota": "Quota", "start_date": "Hired", "active": "Active"},
        "options": {"options": {"dayfirst": True, "decimal": ","}},
        "counts": (2, 1, 0, 1),
        "check": [
            ("SELECT title, monthly_quota, start_date, active FROM reps WHERE external_id = 'R10'",
             [("sdr", 3500.0, date(2024, 1, 2), True)]),
            ("SELECT title, monthly_quota, start_date FROM reps WHERE external_id = 'R11'",
             [("rep", 0.0, date(2024, 3, 15))]),
            ("SELECT monthly_quota, active, email FROM reps WHERE name = 'Ana Costa'",
             [(12000.0, False, "ana@flash.example")]),
        ],
    },
    "activities": {
        "rows": [
            ["Activity ID", "Lead", "Assigned To", "Type", "Date", "Duration (minutes)", "Notes"],
            ["A1", "L1", "Ana Costa", "Logged Call", "2025-03-10 14:00", "15", "Asked for pricing, 2 terminals"],
            ["A2", "john@acme.example", "ben@flash.example", "Meeting", "2025-03-11 09:30", "45", "On site\nvisit"],
            ["A3", "L2", "Ben Ode", "Fax", "2025-03-12 10:00", "5", ""],
            ["A4", "L999", "Ana Costa", "call", "2025-03-12 11:00", "", ""],
        ],
        "fields": {"external_id": "Activity ID", "lead": "Lead", "rep": "Assigned To", "type": "Type",
                   "occurred_at": "Date", "duration_min": "Duration (minutes)", "notes": "Notes"},
        "counts": (2, 0, 0, 2),
        "check": [
            ("SELECT a.type, a.duration_min, l.external_id, r.name FROM activities a JOIN leads l ON l.id = a.lead_id "
             "JOIN reps r ON r.id = a.rep_id ORDER BY a.external_id",
             [("call", 15, "L1", "Ana Costa"), ("meeting", 45, "L2", "Ben Ode")]),
            ("SELECT notes FROM activities WHERE external_id = 'A2'", [("On site\nvisit",)]),
        ],
    },
    "opportunities": {
        "rows": [
            ["Deal ID", "Deal Name", "Lead", "Deal Owner", "Amount", "Deal Stage", "Create Date", "Close Date"],
            ["D1", "Padaria - terminals", "L1", "Ana Costa", "R$ 12.000,00", "Proposal Made", "2025-03-20", "2025-04-30"],
            ["D2", "Acme - online", "L2", "Ben Ode", "7,250.50", "Closed Won", "2025-03-21", "2025-04-02"],
            ["D3", "Café - POS", "L3", "Ana Costa", "lots", "Negotiation", "2025-03-22", ""],
            ["D4", "Nobody - POS", "L3", "Ana Costa", "100", "Negotiation", "", ""],
        ],
        "fields": {"external_id": "Deal ID", "name": "Deal Name", "lead": "Lead", "owner": "Deal Owner",
                   "amount": "Amount", "stage": "Deal Stage", "created_at": "Create Date",
                   "expected_close": "Close Date", "closed_at": "Close Date"},
        "counts": (2, 0, 0, 2),
        "check": [
            ("SELECT external_id, amount, stage, won, expected_close, closed_at FROM opportunities ORDER BY 1",
             [("D1", 12000.0, "proposal", None, date(2025, 4, 30), None),
              ("D2", 7250.5, "closed_won", True, date(2025, 4, 2), datetime(2025, 4, 2))]),
        ],
    },
    "customers": {
        "rows": [
            ["Customer ID", "Lead", "Account Name", "Customer Since", "Account Owner", "Declared monthly revenue"],
            ["C10", "L1", "Padaria Pão Quente", "04/05/2025", "Ana Costa", "25.000,00"],
            ["C1", "", "Café Central", "", "Ben Ode", ""],  # an update: a new owner
            ["C11", "", "Nova Loja", "31/04/2025", "Ana Costa", ""],
            ["C12", "", "Sem Data", "", "Ana Costa", "1"],
        ],
        "fields": {"external_id": "Customer ID", "lead": "Lead", "merchant_name": "Account Name",
                   "won_at": "Customer Since", "owner": "Account Owner", "declared_monthly_revenue":
                   "Declared monthly revenue"},
        "options": {"options": {"dayfirst": True}},
        "counts": (1, 1, 0, 2),
        "check": [
            ("SELECT c.won_at, c.declared_monthly_revenue, l.external_id FROM customers c JOIN leads l "
             "ON l.id = c.lead_id WHERE c.external_id = 'C10'", [(date(2025, 5, 4), 25000.0, "L1")]),
            ("SELECT r.name, c.won_at FROM customers c JOIN reps r ON r.id = c.owner_id WHERE c.external_id = 'C1'",
             [("Ben Ode", date(2025, 4, 1))]),
        ],
    },
    "usage": {
        "rows": [
            ["Customer", "Date", "Transactions", "TPV"],
            ["C1", "2025-05-01", "120", "3,400.50"],
            ["Old Mill Bakery", "2025-05-01", "7", "210"],
            ["C1", "2025-05-02", "1.5", "10"],
            ["C404", "2025-05-02", "3", "10"],
        ],
        "fields": {"customer": "Customer", "day": "Date", "payment_count": "Transactions", "payment_volume": "TPV"},
        "counts": (2, 0, 0, 2),
        "check": [
            ("SELECT c.external_id, u.day, u.payment_count, u.payment_volume FROM customer_usage u "
             "JOIN customers c ON c.id = u.customer_id ORDER BY 1",
             [("C1", date(2025, 5, 1), 120, 3400.5), ("C2", date(2025, 5, 1), 7, 210.0)]),
        ],
    },
}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("entity", list(ENTITY_CASES))
def test_each_entity_imports_from_each_format(store: Store, tmp_path: Path, entity: str, fmt: str) -> None:
    case = ENTITY_CASES[entity]
    path = _write(_frame(case["rows"]), tmp_path / f"{entity}.{fmt}")
    result = _run(store, path, entity, case["fields"], **case.get("options", {}))
    assert (result.imported, result.updated, result.skipped, result.quarantined) == case["counts"]
    assert result.rows_read == len(case["rows"]) - 1
    for sql, expected in case["check"]:
        assert _rows(store, sql) == expected, sql


def test_typed_parquet_columns_are_read_as_their_values(store: Store, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "Lead ID": ["T1", "T2"], "Created": [datetime(2025, 3, 14, 10, 22), datetime(2025, 3, 15)],
        "Volume": [1234.5, None], "Employees": [250, 3], "Tags": [["a", "b"], []], "Raw": [b"\xff\x00", None],
    })
    path = _write(frame, tmp_path / "typed.parquet")
    result = _run(store, path, "leads", {"external_id": "Lead ID", "submitted_at": "Created",
                                         "monthly_volume": "Volume", "company_size": "Employees",
                                         "campaign": "Tags", "landing_page": "Raw"})
    assert result.imported == 2
    assert _rows(store, "SELECT submitted_at, monthly_volume, company_size, campaign FROM leads "
                        "WHERE external_id LIKE 'T%' ORDER BY external_id") == [
        (datetime(2025, 3, 14, 10, 22), 1234.5, "201-1000", '["a", "b"]'),
        (datetime(2025, 3, 15), None, "1-10", "[]")]


def test_an_excel_workbooks_named_sheet_and_real_dates_are_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Notes").write(0, 0, "nothing here")
    sheet = book.add_worksheet("Leads")
    for col, name in enumerate(["Lead ID", "Created", "Employees"]):
        sheet.write(0, col, name)
    sheet.write(1, 0, "X1")
    sheet.write_datetime(1, 1, datetime(2025, 3, 14, 10, 22), book.add_format({"num_format": "dd/mm/yyyy hh:mm"}))
    sheet.write_number(1, 2, 42)
    book.close()
    result = _run(store, path, "leads", {"external_id": "Lead ID", "submitted_at": "Created",
                                         "company_size": "Employees"}, options={"sheet": "Leads"})
    assert result.imported == 1
    assert _rows(store, "SELECT submitted_at, company_size FROM leads WHERE external_id = 'X1'") == [
        (datetime(2025, 3, 14, 10, 22), "11-50")]


def test_semicolon_files_in_latin_1_with_decimal_commas_are_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes("ID;Empresa;Criado;Volume\r\nB1;Padaria São João;14/03/2025;1.234,50\r\n".encode("latin-1"))
    result = _run(store, path, "leads", {"external_id": "ID", "merchant_name": "Empresa", "submitted_at": "Criado",
                                         "monthly_volume": "Volume"})
    assert result.imported == 1
    assert _rows(store, "SELECT merchant_name, submitted_at, monthly_volume FROM leads WHERE external_id = 'B1'") == [
        ("Padaria São João", datetime(2025, 3, 14), 1234.5)]


def test_a_utf8_file_with_a_bom_keeps_its_first_column_name(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(b"\xef\xbb\xbfLead ID,Created\nU1,2025-03-14\n")
    result = _run(store, path, "leads", {"external_id": "Lead ID", "submitted_at": "Created"})
    assert result.imported == 1 and result.file_name == "leads.csv"


# -- quarantine


def _lead_file(tmp_path: Path, rows: list[list[str]], name: str = "leads.csv") -> Path:
    return _csv(tmp_path / name, [["Lead ID", "Company", "Email", "Created", "Status", "Owner"], *rows])


LEAD_MAP = {"external_id": "Lead ID", "merchant_name": "Company", "email": "Email", "submitted_at": "Created",
            "status": "Status", "owner": "Owner"}


def test_each_bad_row_is_quarantined_with_its_reason_and_its_cells(store: Store, tmp_path: Path) -> None:
    path = _lead_file(tmp_path, [
        ["Q1", "Good One", "good@x.example", "2025-03-01", "new", "Ana Costa"],
        ["Q2", "Bad Date", "d@x.example", "2025-02-30", "new", "Ana Costa"],
        ["Q3", "Bad Email", "not-an-email", "2025-03-01", "new", "Ana Costa"],
        ["Q4", "Bad Status", "s@x.example", "2025-03-01", "Hot prospect", "Ana Costa"],
        ["Q5", "No Date", "n@x.example", "", "new", "Ana Costa"],
        ["L1", "", "", "", "", ""],  # no date, but an existing lead does not need one
    ])
    result = _run(store, path, "leads", LEAD_MAP)
    assert (result.imported, result.updated, result.skipped, result.quarantined) == (1, 0, 1, 4)
    reasons = dict(result.quarantine.select("row", "reason").iter_rows())
    assert reasons[2].startswith("submitted_at: '2025-02-30' is not a date in the file's format")
    assert reasons[3] == "email: 'not-an-email' is not an email address"
    assert reasons[4] == "status: 'Hot prospect' is not one of new, mql, sql, opportunity, won, lost, disqualified"
    assert reasons[5] == "submitted_at is required for a new lead (the row matches no lead in the store)"
    cells = json.loads(result.quarantine.filter(pl.col("row") == 3)["cells"][0])
    assert cells == {"Lead ID": "Q3", "Company": "Bad Email", "Email": "not-an-email", "Created": "2025-03-01",
                     "Status": "new", "Owner": "Ana Costa"}
    assert result.outcomes.filter(pl.col("row") == 6)["reason"][0] == "unchanged: the store already has these values"

    # Kept in the store with the import, and downloadable as a CSV with one column per column of the file.
    table = imports.quarantine(store, ADMIN, result.import_id)
    assert table.columns == ["row", "reason", "Lead ID", "Company", "Email", "Created", "Status", "Owner"]
    assert table["Lead ID"].to_list() == ["Q2", "Q3", "Q4", "Q5"]
    table.write_csv(tmp_path / "quarantine.csv")
    assert_frame_equal(pl.read_csv(tmp_path / "quarantine.csv", schema=table.schema), table)


def test_a_csv_line_with_too_many_or_too_few_cells_is_quarantined_as_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Lead ID,Company,Created\n"
                    "W1,One,2025-03-01\n"
                    "W2,Two, Inc.,2025-03-02\n"  # an unquoted comma: four cells
                    "W3,\"Three\nLines\",2025-03-03\n"
                    "W4\n"
                    "W5,Five,2025-03-05\n")
    result = _run(store, path, "leads", {"external_id": "Lead ID", "merchant_name": "Company",
                                         "submitted_at": "Created"})
    assert (result.rows_read, result.imported, result.quarantined) == (5, 3, 2)
    rows = result.quarantine.sort("row")
    assert rows["row"].to_list() == [2, 4]
    assert rows["reason"][0].startswith("the line could not be read: TOO MANY COLUMNS")
    assert json.loads(rows["cells"][0]) == {"line": "W2,Two, Inc.,2025-03-02"}
    assert rows["reason"][1].startswith("the line could not be read: MISSING COLUMNS")
    assert _rows(store, "SELECT external_id, merchant_name FROM leads WHERE external_id LIKE 'W%' ORDER BY 1") == [
        ("W1", "One"), ("W3", "Three\nLines"), ("W5", "Five")]
    assert result.outcomes.filter(pl.col("outcome") == "imported")["row"].to_list() == [1, 3, 5]


def test_an_unknown_rep_is_quarantined_and_a_near_one_is_suggested(store: Store, tmp_path: Path) -> None:
    path = _lead_file(tmp_path, [
        ["N1", "One", "", "2025-03-01", "new", "Ana  Costa"],
        ["N2", "Two", "", "2025-03-01", "new", "Anna Costa"],
        ["N3", "Three", "", "2025-03-01", "new", "Zed Zero"],
        ["N4", "Four", "", "2025-03-01", "new", "BEN@FLASH.EXAMPLE"],
    ])
    result = _run(store, path, "leads", LEAD_MAP)
    reasons = dict(result.quarantine.select("row", "reason").iter_rows())
    assert reasons == {
        1: "owner 'Ana  Costa' is not in the store; did you mean 'Ana Costa'? (accept near matches to use it)",
        2: "owner 'Anna Costa' is not in the store; did you mean 'Ana Costa'? (accept near matches to use it)",
        3: "owner 'Zed Zero' is not in the store (matched by id, email or name); import them first, or allow "
           "creating missing ones",
    }
    assert result.imported == 1  # by email, in any case


def test_accepting_near_matches_resolves_and_flags_them(store: Store, tmp_path: Path) -> None:
    path = _lead_file(tmp_path, [["N1", "One", "", "2025-03-01", "new", "Anna Costa"],
                                 ["N3", "Three", "", "2025-03-01", "new", "Zed Zero"]])
    result = _run(store, path, "leads", LEAD_MAP, accept_near_matches=True)
    assert (result.imported, result.quarantined, result.flagged) == (1, 1, 1)
    assert result.outcomes["flags"][0] == "owner 'Anna Costa' read as 'Ana Costa'"
    assert _one(store, "SELECT r.name FROM leads l JOIN reps r ON r.id = l.owner_id WHERE l.external_id = 'N1'") == \
        "Ana Costa"
    assert "1 rows flagged for a near match" in result.summary()


def test_a_category_that_almost_matches_a_known_one_is_flagged(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [["Lead ID", "Created", "Industry"],
                                         ["V1", "2025-03-01", "Restaurant"], ["V2", "2025-03-01", "Retail"]])
    result = _run(store, path, "leads", {"external_id": "Lead ID", "submitted_at": "Created", "vertical": "Industry"})
    assert result.imported == 2 and result.flagged == 1
    assert result.outcomes["flags"][0] == "vertical 'restaurant' almost matches 'restaurants'"
    # Imported as written, "restaurant" is now a known value; accepting near matches reads a new one as the
    # known value it almost is.
    again = _run(store, _csv(tmp_path / "again.csv", [["Lead ID", "Created", "Industry"], ["V3", "2025-03-01", "Retails"]]),
                 "leads", {"external_id": "Lead ID", "submitted_at": "Created", "vertical": "Industry"},
                 accept_near_matches=True)
    assert again.outcomes["flags"][0] == "vertical 'retails' read as 'retail'"
    assert _one(store, "SELECT vertical FROM leads WHERE external_id = 'V3'") == "retail"


def test_creating_missing_reps_and_teams_makes_them_once(store: Store, tmp_path: Path) -> None:
    path = _lead_file(tmp_path, [["M1", "One", "", "2025-03-01", "new", "Zed Zero"],
                                 ["M2", "Two", "", "2025-03-01", "new", "Zed Zero"],
                                 ["M3", "Three", "", "bad date", "new", "Yan Bad"]])
    result = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert result.imported == 2 and result.created == {"reps": 1}
    assert result.quarantine["reason"].to_list() == [
        "submitted_at: 'bad date' is not a date in the file's format (%Y-%m-%d)"]
    assert _rows(store, "SELECT name, title, active FROM reps WHERE name IN ('Zed Zero', 'Yan Bad')") == [
        ("Zed Zero", "rep", True)]
    again = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert again.created == {} and again.imported == 0


def test_a_deal_for_an_unknown_lead_is_quarantined(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "deals.csv", [["ID", "Lead", "Created"], ["D9", "L404", "2025-03-01"]])
    result = _run(store, path, "opportunities", {"external_id": "ID", "lead": "Lead", "created_at": "Created"})
    assert result.quarantine["reason"].to_list() == ["lead 'L404' is not in the store; import the leads first"]


# -- duplicates


def test_duplicates_within_a_file_merge_into_the_first_row(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [
        ["Lead ID", "Company", "Email", "Phone", "Created"],
        ["D1", "Dup One", "one@x.example", "", "2025-03-01"],
        ["D1", "", "", "555-0001", ""],
        ["D1", "Dup One Ltd", "", "", ""],
    ])
    result = _run(store, path, "leads", {"external_id": "Lead ID", "merchant_name": "Company", "email": "Email",
                                         "phone": "Phone", "submitted_at": "Created"})
    assert (result.imported, result.skipped) == (1, 2)
    assert result.outcomes["reason"].to_list()[1:] == ["duplicate of row 1 in this file; merged into it"] * 2
    assert _rows(store, "SELECT merchant_name, email, phone FROM leads WHERE external_id = 'D1'") == [
        ("Dup One Ltd", "one@x.example", "555-0001")]


def test_duplicates_within_a_file_can_be_skipped_instead(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [
        ["Lead ID", "Company", "Phone", "Created"],
        ["D1", "First", "", ""],  # lacks the date a new lead needs: skipping, nothing fills it in
        ["D1", "Second", "555-0002", "2025-03-02"],
        ["D1", "Third", "555-0003", "2025-03-03"],
    ])
    result = _run(store, path, "leads", {"external_id": "Lead ID", "merchant_name": "Company", "phone": "Phone",
                                         "submitted_at": "Created"}, on_duplicate="skip")
    assert result.outcomes["outcome"].to_list() == ["quarantined", "imported", "skipped"]
    assert result.outcomes["reason"][2] == "duplicate of row 2 in this file"
    assert _rows(store, "SELECT merchant_name, phone FROM leads WHERE external_id = 'D1'") == [("Second", "555-0002")]


def test_merging_fills_a_required_field_from_a_later_duplicate(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [["Lead ID", "Company", "Created", "Email"],
                                         ["D1", "First", "", ""], ["D1", "", "2025-03-02", "bad"],
                                         ["D2", "", "", ""], ["D2", "Other", "2025-03-04", ""]])
    result = _run(store, path, "leads", {"external_id": "Lead ID", "merchant_name": "Company",
                                         "submitted_at": {"column": "Created", "only_new": True}, "email": "Email"})
    # D1's date sits on a row that is quarantined for its email, so D1 has none; D2's second row gives it one.
    assert result.outcomes["outcome"].to_list() == ["quarantined", "quarantined", "imported", "skipped"]
    assert _rows(store, "SELECT merchant_name, submitted_at FROM leads WHERE external_id LIKE 'D%'") == [
        ("Other", datetime(2025, 3, 4))]


def test_a_row_matching_a_stored_record_updates_it_or_is_skipped(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [["Lead ID", "Email", "Phone"], ["L2", "", "555-2222"],
                                         ["", "maria@paoquente.example", "555-1111"], ["L3", "", ""]])
    fields = {"external_id": "Lead ID", "email": "Email", "phone": "Phone"}
    before = _tables(store, skip=LOG_TABLES)
    skipped = _run(store, path, "leads", fields, on_duplicate="skip")
    assert skipped.outcomes["outcome"].to_list() == ["skipped"] * 3
    assert skipped.outcomes["reason"][0] == "already in the store; duplicates are skipped"
    _same(before, _tables(store, skip=LOG_TABLES))

    merged = _run(store, path, "leads", fields)
    assert merged.outcomes["outcome"].to_list() == ["updated", "updated", "skipped"]
    assert _rows(store, "SELECT external_id, email, phone FROM leads WHERE external_id IN ('L1', 'L2') ORDER BY 1") == [
        ("L1", "maria@paoquente.example", "555-1111"), ("L2", "john@acme.example", "555-2222")]


def test_a_status_change_by_import_is_part_of_the_leads_history(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [["Lead ID", "Status"], ["L1", "Closed - Converted"]])
    _run(store, path, "leads", {"external_id": "Lead ID", "status": "Status"})
    assert _rows(store, "SELECT c.from_status, c.to_status, c.actor FROM lead_stage_changes c "
                        "JOIN leads l ON l.id = c.lead_id WHERE l.external_id = 'L1' ORDER BY c.id") == [
        (None, "new", "ada"), ("new", "won", "ada")]


# -- re-import, undo and the record


MIXED_ROWS = [
    ["Lead ID", "Company", "Email", "Created", "Status", "Owner"],
    ["L1", "Padaria Pão Quente", "maria@paoquente.example", "", "Marketing Qualified Lead", "Ben Ode"],  # updated
    ["X1", "New One", "new1@x.example", "3/14/2025 10:22 AM", "Lead", "Zed Zero"],  # new, with a new rep
    ["X2", "New Two", "new2@x.example", "3/15/2025 9:00 AM", "Customer", "Ana Costa"],  # new
    ["X2", "", "", "", "", "Ana Costa"],  # duplicate
    ["X3", "Broken", "nope", "3/15/2025", "Lead", "Ana Costa"],  # quarantined
    ["L2", "Acme Hardware", "", "", "", ""],  # unchanged
]


def test_importing_the_same_file_again_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    first = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert (first.imported, first.updated, first.skipped, first.quarantined) == (2, 1, 2, 1)
    after_first = _tables(store)
    second = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert (second.imported, second.updated, second.skipped, second.quarantined) == (0, 0, 5, 1)
    after_second = _tables(store)
    _same({k: v for k, v in after_first.items() if k not in LOG_TABLES},
          {k: v for k, v in after_second.items() if k not in LOG_TABLES})
    # The second import is itself recorded, and changed no row.
    assert after_second["imports"].height == after_first["imports"].height + 1
    assert _one(store, "SELECT count(*) FROM import_changes WHERE import_id = $i", i=second.import_id) == 0


def test_a_file_without_ids_is_recognised_again_by_its_content(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "acts.csv", [["Lead", "Type", "When"], ["L1", "call", "2025-03-01 10:00"],
                                        ["L1", "call", "2025-03-02 10:00"], ["L2", "email", "2025-03-01 10:00"]])
    fields = {"lead": "Lead", "type": "Type", "occurred_at": "When"}
    assert _run(store, path, "activities", fields).imported == 3
    before = _tables(store, skip=LOG_TABLES)
    assert _run(store, path, "activities", fields).skipped == 3
    _same(before, _tables(store, skip=LOG_TABLES))


def test_undo_restores_every_table_as_it_was(demo: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "leads.csv", [
        ["Lead ID", "Company", "Email", "Created", "Status", "Owner", "Volume", "Industry"],
        ["FL-000001", "Philadelphia B&B (renamed)", "", "", "Closed - Converted", "Barbara Lee", "1,000", ""],
        ["FL-000002", "", "NEW@MAIL.EXAMPLE", "", "", "Nicholas Davis", "", "Retail"],
        ["NEW-1", "Brand New", "brand@new.example", "2026-06-01 10:00", "Open", "Zed Zero", "2,500.75", "retail"],
        ["NEW-2", "Brand New Two", "", "2026-06-02 11:00", "Working", "Barbara Lee", "", "Restaurant"],
    ])
    snapshot = _tables(demo)
    result = _run(demo, path, "leads", {**LEAD_MAP, "monthly_volume": "Volume", "vertical": "Industry"},
                  create_missing=True, accept_near_matches=True)
    assert (result.imported, result.updated) == (2, 2) and result.created == {"reps": 1}
    assert _rows(demo, "SELECT merchant_name, status, monthly_volume FROM leads WHERE external_id = 'FL-000001'") == [
        ("Philadelphia B&B (renamed)", "won", 1000.0)]
    assert _one(demo, "SELECT vertical FROM leads WHERE external_id = 'NEW-2'") == "restaurants"  # a near match

    counts = imports.undo(demo, ADMIN, result.import_id, NOW)
    assert counts == {"leads": 4, "reps": 1, "lead_stage_changes": 3}
    after = _tables(demo)
    _same({k: v for k, v in snapshot.items() if k not in LOG_TABLES},
          {k: v for k, v in after.items() if k not in LOG_TABLES})
    assert _rows(demo, "SELECT status, undone_by FROM imports WHERE id = $i", i=result.import_id) == [("undone", "ada")]
    assert _rows(demo, "SELECT action, entity, entity_id FROM audit_log WHERE action = 'undo_import'") == [
        ("undo_import", "leads", str(result.import_id))]
    with pytest.raises(imports.ImportProblem, match="already undone"):
        imports.undo(demo, ADMIN, result.import_id, NOW)
    with pytest.raises(imports.ImportProblem, match="There is no import #999"):
        imports.undo(demo, ADMIN, 999, NOW)


def test_recent_unowned_leads_are_routed_on_arrival_and_undo_takes_their_routing_back(demo: Store,
                                                                                      tmp_path: Path) -> None:
    city = _one(demo, "SELECT c.name FROM cities c JOIN teams t ON t.region_id = c.region_id ORDER BY c.id LIMIT 1")
    path = _csv(tmp_path / "leads.csv", [
        ["Lead ID", "Company", "Email", "Created", "City"],
        ["ARR-1", "Fresh Bakery", "hello@freshbakery.example", "2026-06-29 10:00", city],
        ["ARR-2", "Old Diner", "hi@olddiner.example", "2025-01-10 10:00", city],  # history: not routed again
    ])
    snapshot = _tables(demo)
    result = _run(demo, path, "leads", {"external_id": "Lead ID", "merchant_name": "Company", "email": "Email",
                                         "submitted_at": "Created", "city": "City"})
    assert result.routed == 1 and "1 new leads routed to reps on arrival" in result.summary()
    owners = dict(_rows(demo, "SELECT external_id, owner_id FROM leads WHERE external_id LIKE 'ARR-%'"))
    assert owners["ARR-1"] is not None and owners["ARR-2"] is None
    assert _one(demo, "SELECT count(*) FROM lead_assignments a JOIN leads l ON l.id = a.lead_id "
                      "WHERE l.external_id = 'ARR-1'") == 1

    imports.undo(demo, ADMIN, result.import_id, NOW)
    after = _tables(demo)
    _same({k: v for k, v in snapshot.items() if k not in LOG_TABLES},
          {k: v for k, v in after.items() if k not in LOG_TABLES})


def test_undo_waits_for_a_later_import_of_the_same_records(store: Store, tmp_path: Path) -> None:
    fields = {"external_id": "Lead ID", "phone": "Phone"}
    first = _run(store, _csv(tmp_path / "a.csv", [["Lead ID", "Phone"], ["L1", "555-1000"]]), "leads", fields)
    second = _run(store, _csv(tmp_path / "b.csv", [["Lead ID", "Phone"], ["L1", "555-2000"]]), "leads", fields)
    before = _tables(store, skip=LOG_TABLES)
    with pytest.raises(imports.ImportProblem, match=f"Import #{second.import_id} changed the same records after "
                                                    f"#{first.import_id}; undo it first"):
        imports.undo(store, ADMIN, first.import_id, NOW)
    _same(before, _tables(store, skip=LOG_TABLES))
    imports.undo(store, ADMIN, second.import_id, NOW)
    assert _one(store, "SELECT phone FROM leads WHERE external_id = 'L1'") == "555-1000"
    imports.undo(store, ADMIN, first.import_id, NOW)
    assert _one(store, "SELECT phone FROM leads WHERE external_id = 'L1'") == "555-0101"


def test_undo_waits_while_later_rows_point_at_what_it_created(store: Store, tmp_path: Path) -> None:
    leads = _run(store, _lead_file(tmp_path, [["K1", "Kay", "", "2025-03-01", "new", "Zed Zero"]]), "leads", LEAD_MAP,
                 create_missing=True)
    acts = _run(store, _csv(tmp_path / "acts.csv", [["Lead", "Type", "When"], ["K1", "call", "2025-03-02"]]),
                "activities", {"lead": "Lead", "type": "Type", "occurred_at": "When"})
    with pytest.raises(imports.ImportProblem, match="1 activities row\\(s\\) written since import"):
        imports.undo(store, ADMIN, leads.import_id, NOW)
    imports.undo(store, ADMIN, acts.import_id, NOW)
    imports.undo(store, ADMIN, leads.import_id, NOW)
    assert _one(store, "SELECT count(*) FROM reps WHERE name = 'Zed Zero'") == 0


def test_every_import_is_recorded_with_its_file_mapping_and_counts(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    result = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    row = _rows(store, "SELECT actor, file_name, file_sha256, entity, mapping, status, rows_read, imported, updated, "
                       "skipped, quarantined, created, started_at FROM imports WHERE id = $i", i=result.import_id)[0]
    assert row[:4] == ("ada", "mixed.csv", hashlib.sha256(path.read_bytes()).hexdigest(), "leads")
    recorded = mapping.from_dict(yaml.safe_load(row[4]))
    assert recorded.fields["submitted_at"].formats[0] == "%m/%d/%Y %I:%M %p"  # as resolved from the data
    assert recorded.create_missing and recorded.fields["owner"].column == "Owner"
    assert row[5:11] == ("done", 6, 2, 1, 2, 1)
    assert json.loads(row[11]) == {"reps": 1} and row[12] == NOW
    audit = _rows(store, "SELECT actor, entity, entity_id, after FROM audit_log WHERE action = 'import' "
                         "ORDER BY id DESC LIMIT 1")[0]
    assert audit[:3] == ("ada", "leads", str(result.import_id))
    assert json.loads(audit[3]) == {"file": "mixed.csv", "sha256": row[2], "rows_read": 6, "imported": 2,
                                    "updated": 1, "skipped": 2, "quarantined": 1, "created": {"reps": 1}}
    listed = imports.history(store, ADMIN)
    assert listed["id"][0] == result.import_id and listed["file_name"][0] == "mixed.csv"


def test_a_dry_run_reports_the_same_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    before = _tables(store)
    dry = _run(store, path, "leads", LEAD_MAP, create_missing=True, dry_run=True)
    _same(before, _tables(store))
    assert dry.import_id is None and dry.dry_run and dry.summary().startswith("Would import mixed.csv")
    real = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert dry.counts == real.counts and dry.created == real.created
    assert_frame_equal(dry.outcomes, real.outcomes)


def test_only_admins_import_undo_or_read_the_history(store: Store, tmp_path: Path) -> None:
    path = _lead_file(tmp_path, [["Z1", "Zed", "", "2025-03-01", "new", ""]])
    before = _tables(store)
    with pytest.raises(AccessDenied):
        _run(store, path, "leads", LEAD_MAP, actor=MANAGER)
    with pytest.raises(AccessDenied):
        imports.import_preset(store, MANAGER, mapping.preset("pipedrive"), EXPORTS / "pipedrive", NOW)
    with pytest.raises(AccessDenied):
        imports.undo(store, MANAGER, 1, NOW)
    with pytest.raises(AccessDenied):
        imports.history(store, MANAGER)
    with pytest.raises(AccessDenied):
        imports.quarantine(store, MANAGER, 1)
    _same(before, _tables(store))


def test_files_that_cannot_be_imported_say_why(store: Store, tmp_path: Path) -> None:
    m = mapping.from_dict({"entity": "leads", "fields": LEAD_MAP})
    with pytest.raises(imports.ImportProblem, match="There is no file"):
        imports.import_file(store, ADMIN, tmp_path / "nope.csv", m, NOW)
    (tmp_path / "leads.json").write_text("{}")
    with pytest.raises(imports.ImportProblem, match="cannot import .json"):
        imports.import_file(store, ADMIN, tmp_path / "leads.json", m, NOW)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(imports.ImportProblem, match="is empty"):
        imports.import_file(store, ADMIN, tmp_path / "empty.csv", m, NOW)
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(imports.ImportProblem, match="cannot be read as an Excel workbook"):
        imports.import_file(store, ADMIN, tmp_path / "fake.xlsx", m, NOW)
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(imports.ImportProblem, match="cannot be read as Parquet"):
        imports.import_file(store, ADMIN, tmp_path / "fake.parquet", m, NOW)
    _csv(tmp_path / "other.csv", [["id", "when"], ["1", "2025-01-01"]])
    with pytest.raises(mapping.MappingError, match="names column\\(s\\) 'Company', 'Created', 'Email'"):
        imports.import_file(store, ADMIN, tmp_path / "other.csv", m, NOW)


def test_a_line_with_thousands_of_separators_refuses_the_file_naming_the_line(store: Store, tmp_path: Path) -> None:
    # An unquoted field full of commas: DuckDB would take minutes and gigabytes over it, so the file is refused.
    (tmp_path / "leads.csv").write_text("Lead ID,Company,Email,Created,Status,Owner\n"
                                        "L1,Acme,a@x.example,2025-01-01,new,Ana\n"
                                        "L2,Notes " + "a, " * 20_000 + "\n")
    m = mapping.from_dict({"entity": "leads", "fields": LEAD_MAP})
    with pytest.raises(imports.ImportProblem, match="line 3 has 20,001 separators"):
        imports.import_file(store, ADMIN, tmp_path / "leads.csv", m, NOW)


def test_the_widest_line_is_found_across_read_chunks_and_encodings(tmp_path: Path) -> None:
    body = b"id,name\n" + b"1,abc\n" * 700_000  # 4.2 MB: the wide line straddles the first 4 MiB chunk
    (tmp_path / "a.csv").write_bytes(body + b"x" + b";" * 6_000 + b"\n2,\xe9t\xe9\n")
    assert imports.scan_csv(tmp_path / "a.csv") == ("latin-1", 700_002, 6_000)
    (tmp_path / "b.csv").write_bytes("\ufeffid|name\r\n1|caf\u00e9\r\n2|a|b".encode())
    assert imports.scan_csv(tmp_path / "b.csv") == ("utf-8", 3, 2)


def test_a_column_named_like_a_pattern_is_read_as_a_column(store: Store, tmp_path: Path) -> None:
    assert imports.safe_names(["^id$", "^", "x$", "_row"]) == ["^id$ (file)", "^", "x$", "_row (file)"]
    (tmp_path / "leads.csv").write_text("Lead ID,^$,Created\nPAT-1,odd,2026-06-01\n")
    result = _run(store, tmp_path / "leads.csv", "leads", {"external_id": "Lead ID", "campaign": "^$ (file)",
                                                           "submitted_at": "Created"})
    assert result.imported == 1 and _one(store, "SELECT campaign FROM leads WHERE external_id = 'PAT-1'") == "odd"
    (tmp_path / "header.csv").write_text("Lead ID,^$\n")
    assert _run(store, tmp_path / "header.csv", "leads", {"external_id": "Lead ID"}).rows_read == 0


def test_a_header_of_100000_repeated_names_lists_a_few_in_its_message() -> None:
    names = imports.safe_names(["a"] * 100_000)
    assert names[:3] == ["a", "a_2", "a_3"] and len(set(names)) == 100_000
    with pytest.raises(mapping.MappingError, match="'a_30' and 99,970 more"):
        mapping.check_columns(mapping.from_dict({"entity": "leads", "fields": {"email": "Email"}}), names)


def test_a_header_only_file_reads_no_rows(store: Store, tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("Lead ID,Company,Email,Created,Status,Owner\n")
    result = _run(store, tmp_path / "leads.csv", "leads", LEAD_MAP)
    assert result.counts == {"rows_read": 0, "imported": 0, "updated": 0, "skipped": 0, "quarantined": 0}


# -- atomicity


def test_an_error_midway_leaves_every_table_unchanged(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    before = _tables(store)
    original = imports._Apply._write

    def write_then_fail(self: imports._Apply) -> None:
        original(self)
        assert self.x("SELECT count(*) FROM leads WHERE external_id = 'X1'")[0][0] == 1  # written, not committed
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports._Apply, "_write", write_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _run(store, path, "leads", LEAD_MAP, create_missing=True)
    _same(before, _tables(store))


def test_a_preset_whose_last_step_fails_leaves_the_earlier_steps_undone(empty: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = _tables(empty)
    original = imports.apply

    def apply(con: Any, staged: imports.Staged, *args: Any, **kw: Any) -> imports.ImportResult:
        if staged.mapping.entity == "opportunities":
            raise RuntimeError("second step fails")
        return original(con, staged, *args, **kw)

    monkeypatch.setattr(imports, "apply", apply)
    with pytest.raises(RuntimeError, match="second step fails"):
        imports.import_preset(empty, ADMIN, mapping.preset("salesforce"), EXPORTS / "salesforce", NOW)
    _same(before, _tables(empty))


def test_a_killed_import_leaves_the_store_as_it_was(store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    m = mapping.from_dict({"entity": "leads", "fields": LEAD_MAP, "create_missing": True})
    m.save(tmp_path / "m.yaml")
    before = _tables(store)
    env = {**os.environ, faults.FAULT_ENV: "import.write=crash", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "flashdash", "import", str(path), "--mapping", str(tmp_path / "m.yaml"),
                           "--db", str(store.path), "--quiet", "--quarantine-dir", str(tmp_path / "q")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 137, done.stderr
    assert "Imported" not in done.stdout
    _same(before, _tables(store))
    # The store opens for writing, and the same import then goes through.
    store.ensure_schema(NOW)
    result = _run(store, path, "leads", LEAD_MAP, create_missing=True)
    assert (result.imported, result.updated) == (2, 1)


# -- presets


def _preset(store: Store, name: str) -> list[imports.ImportResult]:
    results = imports.import_preset(store, ADMIN, mapping.preset(name), EXPORTS / name, NOW)
    for r in results:
        _accounted(r)
    return results


def test_the_salesforce_preset_imports_a_leads_and_an_opportunities_report(empty: Store) -> None:
    leads, opps = _preset(empty, "salesforce")
    assert (leads.entity, leads.rows_read, leads.imported, leads.quarantined) == ("leads", 7, 4, 3)
    assert dict(leads.quarantine.select("row", "reason").iter_rows()) == {
        4: "email: 'wei.chen[at]goldendragon.com' is not an email address",
        6: "status: 'Nurturing' is not one of new, mql, sql, opportunity, won, lost, disqualified",
        7: "submitted_at is required for a new lead (the row matches no lead in the store)",
    }
    assert _rows(empty, "SELECT external_id, contact_name, email, status, interest_level, company_size, channel, "
                        "submitted_at FROM leads WHERE external_id IS NOT NULL ORDER BY 1") == [
        ("00Q5g00000Lx01A", "Maria Silva", "maria@paoquente.com.br", "new", "hot", "11-50", "direct_traffic",
         datetime(2025, 3, 14, 10, 22)),
        ("00Q5g00000Lx02B", "John Roe", "john.roe@acmehardware.com", "mql", "warm", "1000+", "partner",
         datetime(2025, 3, 15, 9, 1)),
        ("00Q5g00000Lx03C", "Lucía Pérez", "lucia@cafecentral.es", "won", "hot", "11-50", "events",
         datetime(2025, 3, 16, 16, 45)),
        ("00Q5g00000Lx05E", "Olu Ade", "olu@lagosbeauty.com", "lost", "cold", "1-10", "purchased_list",
         datetime(2025, 3, 18, 14, 10)),
    ]
    assert (opps.entity, opps.rows_read, opps.imported, opps.quarantined) == ("opportunities", 6, 5, 1)
    assert opps.quarantine["reason"][0].startswith("expected_close: '13/45/2025' is not a date")
    assert opps.created == {"reps": 1, "leads": 1}  # Dan Reis, and a lead for Northwind Traders
    assert _rows(empty, "SELECT o.external_id, o.amount, o.stage, o.won, o.closed_at, l.merchant_name, r.name "
                        "FROM opportunities o JOIN leads l ON l.id = o.lead_id JOIN reps r ON r.id = o.owner_id "
                        "ORDER BY 1") == [
        ("0065g00000Op01A", 12000.0, "discovery", None, None, "Padaria Pão Quente", "Ana Costa"),
        ("0065g00000Op02B", 18500.0, "closed_won", True, datetime(2025, 4, 2), "Café Central", "Ana Costa"),
        ("0065g00000Op03C", 7250.5, "negotiation", None, None, "Acme Hardware", "Ben Ode"),
        ("0065g00000Op04D", 900.0, "closed_lost", False, datetime(2025, 3, 30), "Lagos Beauty Bar", "Carla Dias"),
        ("0065g00000Op05E", 45000.0, "proposal", None, None, "Northwind Traders", "Dan Reis"),
    ]
    assert _rows(empty, "SELECT name FROM reps ORDER BY 1") == [("Ana Costa",), ("Ben Ode",), ("Carla Dias",),
                                                               ("Dan Reis",)]
    assert _rows(empty, "SELECT status, submitted_at FROM leads WHERE merchant_name = 'Northwind Traders'") == [
        ("opportunity", datetime(2025, 3, 24))]


def test_the_hubspot_preset_imports_contacts_and_deals(empty: Store) -> None:
    contacts, deals = _preset(empty, "hubspot")
    assert (contacts.rows_read, contacts.imported, contacts.skipped, contacts.quarantined) == (7, 5, 1, 1)
    assert contacts.quarantine["reason"][0] == \
        "status: 'Champion' is not one of new, mql, sql, opportunity, won, lost, disqualified"
    # The second row for record 52 came later and says SQL: merged, it wins.
    assert _rows(empty, "SELECT external_id, status, email, company_size, channel FROM leads "
                        "WHERE external_id IS NOT NULL ORDER BY 1") == [
        ("51", "new", "ana@pradomodas.com.br", "11-50", "organic_search"),
        ("52", "sql", "bruno@telesauto.com.br", "51-200", "social"),
        ("53", "sql", "carol@nunesfarma.com.br", "1000+", "referral"),
        ("54", "won", "davi@reispet.com.br", "1-10", "direct_traffic"),
        ("55", "new", "eva@luzcafe.com.br", "1-10", "email"),
    ]
    assert contacts.created == {"regions": 4, "reps": 2}
    assert (deals.rows_read, deals.imported, deals.quarantined) == (6, 5, 1)
    assert deals.quarantine["reason"][0] == "amount: 'lots' is not a number"
    assert deals.created == {"leads": 1}  # Vila Sorvetes has no contact
    assert _rows(empty, "SELECT o.external_id, o.stage, o.won, o.amount, o.expected_close, o.closed_at, "
                        "l.merchant_name FROM opportunities o JOIN leads l ON l.id = o.lead_id ORDER BY 1") == [
        ("9001", "discovery", None, 2400.0, date(2025, 4, 30), None, "Prado Modas"),
        ("9002", "negotiation", None, 15000.0, date(2025, 4, 15), None, "Teles Auto"),
        ("9003", "closed_won", True, 8800.0, date(2025, 3, 28), datetime(2025, 3, 28), "Reis Pet"),
        ("9004", "closed_lost", False, 30000.0, date(2025, 3, 29), datetime(2025, 3, 29), "Nunes Farma"),
        ("9005", "proposal", None, 3100.0, date(2025, 5, 20), None, "Vila Sorvetes"),
    ]


def test_the_pipedrive_preset_imports_a_deals_export(empty: Store) -> None:
    (deals,) = _preset(empty, "pipedrive")
    assert (deals.rows_read, deals.imported, deals.quarantined) == (6, 5, 1)
    assert deals.quarantine["reason"][0] == "won: 'Deleted' is not yes/no (use true/false, yes/no or 1/0)"
    assert deals.created == {"reps": 2, "leads": 4}
    assert _rows(empty, "SELECT o.external_id, o.stage, o.won, o.amount, o.closed_at, o.loss_reason, r.name "
                        "FROM opportunities o JOIN reps r ON r.id = o.owner_id ORDER BY 1") == [
        ("101", "discovery", None, 1500.0, None, None, "Tom Weber"),
        ("102", "closed_won", True, 12800.5, datetime(2025, 3, 20, 16, 45, 10), None, "Tom Weber"),
        ("103", "closed_lost", False, 4000.0, datetime(2025, 3, 18, 10), "Price too high", "Sara Lin"),
        ("104", "discovery", None, 950.0, None, None, "Sara Lin"),
        ("106", "discovery", None, 700.0, None, None, "Sara Lin"),
    ]
    # One lead per organisation, its status from its deals; none for the deleted deal's organisation.
    assert _rows(empty, "SELECT merchant_name, status, status_changed_at FROM leads ORDER BY 1") == [
        ("Blue Moon Bakery", "won", datetime(2025, 3, 20, 16, 45, 10)), ("Green Leaf Grocers", "opportunity", None),
        ("Kwik Mart", "opportunity", None), ("Sunset Surf Shop", "lost", datetime(2025, 3, 18, 10))]


@pytest.mark.parametrize("name", ["salesforce", "hubspot", "pipedrive"])
def test_importing_a_preset_again_changes_nothing(empty: Store, name: str) -> None:
    _preset(empty, name)
    before = _tables(empty, skip=LOG_TABLES)
    again = _preset(empty, name)
    assert all(r.imported == r.updated == 0 and not r.created for r in again)
    _same(before, _tables(empty, skip=LOG_TABLES))


def test_a_preset_finds_columns_spelt_in_another_case(empty: Store, tmp_path: Path) -> None:
    folder = tmp_path / "pd"
    folder.mkdir()
    text = (EXPORTS / "pipedrive" / "deals-export.csv").read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    (folder / "deals.csv").write_text(header.replace("Deal - Owner", "Deal - owner").replace("Deal - Title",
                                                                                            " deal - title ") +
                                      "\n" + rest, encoding="utf-8")
    (deals,) = imports.import_preset(empty, ADMIN, mapping.preset("pipedrive"), folder, NOW)
    assert deals.imported == 5
    assert "Deal - owner" in deals.mapping_yaml


def test_a_preset_needs_at_least_one_of_its_files(empty: Store, tmp_path: Path) -> None:
    with pytest.raises(imports.ImportProblem, match="has none of the files the hubspot preset reads"):
        imports.import_preset(empty, ADMIN, mapping.preset("hubspot"), tmp_path, NOW)
    with pytest.raises(imports.ImportProblem, match="is not a directory"):
        imports.import_preset(empty, ADMIN, mapping.preset("hubspot"), tmp_path / "nope", NOW)
    with pytest.raises(mapping.MappingError, match="There is no preset 'zoho'"):
        mapping.preset("zoho")


OLIST = Path("/work/shared/data/olist-marketing-funnel")


@pytest.mark.skipif(not (OLIST / "olist_closed_deals_dataset.csv").exists(),
                    reason="the Olist marketing funnel data is not in /work/shared/data")
def test_the_olist_preset_imports_the_marketing_funnel(empty: Store) -> None:
    results = imports.import_preset(empty, ADMIN, mapping.preset("olist"), OLIST, NOW)
    for r in results:
        _accounted(r)
    assert [r.entity for r in results] == ["leads", "reps", "reps", "leads", "opportunities", "customers"]
    assert results[0].imported == 8_000
    assert _one(empty, "SELECT count(*) FROM opportunities WHERE stage = 'closed_won' AND won") == \
        results[4].imported > 800
    assert _one(empty, "SELECT count(*) FROM leads WHERE status = 'won'") == results[3].updated


# -- the command line


@pytest.fixture
def cli(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLASHDASH_NOW", "2026-07-01T08:00:00")
    monkeypatch.chdir(tmp_path)
    return store.path


def test_cli_imports_with_a_suggested_mapping_and_saves_it(cli: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    path = _csv(tmp_path / "contacts.csv", [
        ["Record ID", "First Name", "Last Name", "Email", "Create Date", "Lifecycle Stage"],
        ["H1", "Ana", "Prado", "ana@prado.example", "2025-03-01 09:15", "Lead"],
        ["H2", "Rui", "Lima", "bad", "2025-03-02 09:15", "Customer"],
    ])
    saved = tmp_path / "contacts.yaml"
    assert main(["import", str(path), "--entity", "leads", "--db", str(cli), "--save-mapping", str(saved),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Suggested mapping" in out
    assert "Imported contacts.csv into leads: 2 rows read, 1 new, 0 updated, 0 skipped, 1 quarantined." in out
    assert "row 2: email: 'bad' is not an email address" in out
    quarantine_csv = tmp_path / "data" / "quarantine" / "contacts-leads-quarantine.csv"
    assert pl.read_csv(quarantine_csv)["Record ID"].to_list() == ["H2"]
    loaded = mapping.load(saved)
    assert loaded.fields["contact_name"].template == "{First Name} {Last Name}"
    assert loaded.fields["email"].column == "Email" and loaded.fields["status"].column == "Lifecycle Stage"

    assert main(["import", str(path), "--mapping", str(saved), "--db", str(cli), "--quiet"]) == 0
    assert "0 new, 0 updated, 1 skipped, 1 quarantined" in capsys.readouterr().out
    assert _rows(Store(cli), "SELECT contact_name, status FROM leads WHERE external_id = 'H1'") == [("Ana Prado", "new")]


def test_cli_dry_run_list_and_undo(cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _csv(tmp_path / "mixed.csv", MIXED_ROWS)
    m = mapping.from_dict({"entity": "leads", "fields": LEAD_MAP})
    m.save(tmp_path / "m.yaml")
    before = _tables(Store(cli))
    assert main(["import", str(path), "--mapping", str(tmp_path / "m.yaml"), "--db", str(cli), "--dry-run",
                 "--create-missing", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Would import mixed.csv into leads: 6 rows read, 2 new, 1 updated, 2 skipped, 1 quarantined" in out
    assert "recorded as import" not in out
    _same(before, _tables(Store(cli)))

    assert main(["import", str(path), "--mapping", str(tmp_path / "m.yaml"), "--db", str(cli), "--create-missing",
                 "--on-duplicate", "skip", "--quiet"]) == 0
    out = capsys.readouterr().out
    import_id = int(out.split("recorded as import #")[1].split(";")[0])
    assert "0 updated" in out and "also created reps: 1" in out
    assert main(["import", "--list", "--db", str(cli)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"#{import_id:<4}") and "mixed.csv: 6 read, 2 new, 0 updated, 3 skipped" in listed[0]
    assert main(["import", "--undo", str(import_id), "--db", str(cli)]) == 0
    assert capsys.readouterr().out.startswith(f"Undid import #{import_id}: ")
    _same({k: v for k, v in before.items() if k not in LOG_TABLES}, _tables(Store(cli), skip=LOG_TABLES))
    assert main(["import", "--list", "--db", str(cli)]) == 0
    assert "(undone)" in capsys.readouterr().out


def test_cli_imports_a_preset_folder(cli: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["import", "--preset", "pipedrive", str(EXPORTS / "pipedrive"), "--db", str(cli), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Imported deals-export.csv into opportunities: 6 rows read, 5 new" in out
    assert "also created reps: 2, leads: 4" in out


@pytest.mark.parametrize(("args", "message"), [
    (["import", "missing.csv", "--entity", "leads"], "There is no file at missing.csv"),
    (["import", "leads.csv", "--entity", "prospects"], "Unknown entity 'prospects'"),
    (["import", "leads.csv"], "Say what the file holds: --entity leads|reps|"),
    (["import", "leads.csv", "--mapping", "bad.yaml"], "leads has no field(s) 'mail'"),
    (["import", "leads.csv", "--mapping", "typo.yaml"], "Unknown key(s) 'on_duplicates'"),
    (["import", "leads.csv", "--mapping", "nope.yaml"], "There is no mapping file at nope.yaml"),
    (["import", "leads.csv", "--mapping", "good.yaml", "--entity", "reps"], "The mapping is for leads, not reps"),
    (["import", "leads.csv", "--mapping", "other.yaml"], "names column(s) 'Nope' that the file does not have"),
    (["import", "--preset", "zoho", "."], "There is no preset 'zoho'"),
    (["import", "--preset", "hubspot"], "Give the directory that holds the export files"),
    (["import"], "Give the file to import"),
    (["import", "--undo", "42"], "There is no import #42"),
])
def test_cli_mistakes_exit_2_with_a_clear_message(cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  args: list[str], message: str) -> None:
    _csv(tmp_path / "leads.csv", [["Lead ID", "Created"], ["E1", "2025-03-01"]])
    (tmp_path / "bad.yaml").write_text("entity: leads\nfields: {mail: Email}\n")
    (tmp_path / "typo.yaml").write_text("entity: leads\non_duplicates: skip\nfields: {external_id: Lead ID}\n")
    (tmp_path / "good.yaml").write_text("entity: leads\nfields: {external_id: Lead ID}\n")
    (tmp_path / "other.yaml").write_text("entity: leads\nfields: {external_id: Nope}\n")
    before = _tables(Store(cli))
    assert main([*args, "--db", str(cli), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    _same(before, _tables(Store(cli)))
