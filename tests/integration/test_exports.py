"""Exporting entities and page tables: formats round-trip, the Excel limit, refusals, atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import audit, crypto, exports
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store, copy_file
from tests.conftest import NOW


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the demo store: exports append audit records."""
    copy = tmp_path / "store" / "demo.duckdb"
    copy.parent.mkdir()
    copy_file(demo_store.path, copy)
    return Store(copy)


def _table(store: Store, table: str) -> pl.DataFrame:
    """The table as the product shows it (an export writes contact values opened)."""
    with store.read() as con:
        return crypto.open_frame(con.sql(f'SELECT * FROM "{table}"').pl(), lambda: store.keyring)


def _read(path: Path, fmt: str, schema: pl.Schema) -> pl.DataFrame:
    if fmt == "csv":
        return pl.read_csv(path, schema=schema)
    if fmt == "parquet":
        return pl.read_parquet(path)
    # Excel keeps no column types (whole-number floats come back as integers, times in milliseconds).
    return pl.read_excel(path).cast(schema)  # type: ignore[arg-type]


def _exports(store: Store) -> pl.DataFrame:
    with store.read() as con:
        return con.sql("SELECT actor, action, entity, after FROM audit_log WHERE action = 'export'").pl()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("entity", ["leads", "customers", "reps"])
def test_each_format_round_trips_an_entity(store: Store, tmp_path: Path, entity: str, fmt: str) -> None:
    path = tmp_path / f"{entity}.{fmt}"
    rows = exports.export_entity(store, exports.CLI_ACTOR, entity, path, now=NOW)
    table = _table(store, exports.ENTITIES[entity])
    assert rows == table.height > 0
    back = _read(path, fmt, table.schema)
    assert_frame_equal(back.sort("id"), table.sort("id"))


def test_usage_exports_the_customer_usage_table(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "usage.parquet"
    rows = exports.export_entity(store, exports.CLI_ACTOR, "usage", path, now=NOW)
    table = _table(store, "customer_usage")
    assert rows == table.height > 10_000
    keys = ["customer_id", "day"]
    assert_frame_equal(pl.read_parquet(path).sort(keys), table.sort(keys))


def test_the_format_argument_wins_over_the_extension(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "regions.out"
    exports.export_entity(store, exports.CLI_ACTOR, "regions", path, fmt="parquet", now=NOW)
    assert_frame_equal(pl.read_parquet(path), _table(store, "regions"))


def test_users_are_exported_without_their_password_hashes(store: Store, tmp_path: Path) -> None:
    for fmt in ("csv", "xlsx", "parquet"):
        path = tmp_path / f"users.{fmt}"
        exports.export_entity(store, exports.CLI_ACTOR, "users", path, now=NOW)
        back = _read(path, fmt, _table(store, "users").drop("password_hash").schema)
        assert "password_hash" not in back.columns
        assert set(back["username"]) == {"rep", "manager", "analyst", "executive", "admin"}
    assert b"$2b$" not in (tmp_path / "users.csv").read_bytes()  # no bcrypt hash anywhere in the text
    assert "$2b$" in _table(store, "users")["password_hash"][0]


def test_excel_refuses_a_table_over_the_sheet_limit_with_the_count_and_the_alternatives(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"11 rows.*CSV or Parquet"):
        exports.check_excel_rows(11, "leads", limit=10)
    exports.check_excel_rows(10, "leads", limit=10)

    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 1_000)
    path = tmp_path / "leads.xlsx"
    with pytest.raises(ValueError, match=r"leads has 2,000 rows.*CSV or Parquet"):
        exports.export_entity(store, exports.CLI_ACTOR, "leads", path, now=NOW)
    assert list(tmp_path.iterdir()) == [tmp_path / "store"]
    assert _exports(store).is_empty()
    with pytest.raises(ValueError, match="CSV or Parquet"):
        exports.frame_bytes(pl.DataFrame({"x": range(1_001)}), "xlsx")


def test_the_real_excel_limit_is_a_sheet_less_its_header() -> None:
    exports.check_excel_rows(1_048_575, "t")
    with pytest.raises(ValueError, match="1,048,576 rows"):
        exports.check_excel_rows(1_048_576, "t")


@pytest.mark.parametrize("name", ["leads.json", "leads", "leads.xls"])
def test_a_file_whose_extension_is_not_a_format_is_refused(store: Store, tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.xlsx or \.parquet"):
        exports.export_entity(store, exports.CLI_ACTOR, "leads", tmp_path / name, now=NOW)
    assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match="csv, xlsx or parquet"):
        exports.export_entity(store, exports.CLI_ACTOR, "leads", tmp_path / "leads.csv", fmt="json", now=NOW)


def test_an_unknown_entity_is_refused_with_the_valid_names(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no entity 'lead'") as err:
        exports.export_entity(store, exports.CLI_ACTOR, "lead", tmp_path / "x.csv", now=NOW)
    for name in ("leads", "usage", "users", "audit_log", "model_cards"):
        assert name in str(err.value)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("role", ["rep", "manager", "analyst", "executive"])
def test_only_admins_may_export_whole_entities(store: Store, tmp_path: Path, role: str) -> None:
    actor = Actor(username=role, name=role, role=role, rep_id=1, scope_reps=(1,) if role in ("rep", "manager") else None)
    with pytest.raises(AccessDenied, match="Only admins"):
        exports.export_entity(store, actor, "leads", tmp_path / "leads.csv", now=NOW)
    assert not (tmp_path / "leads.csv").exists()
    assert _exports(store).is_empty()


def test_an_export_is_recorded_in_the_audit_trail(store: Store, tmp_path: Path) -> None:
    admin = Actor(username="admin", name="Ada Admin", role="admin")
    exports.export_entity(store, admin, "opportunities", tmp_path / "opps.csv", now=NOW)
    record = _exports(store).row(0, named=True)
    assert (record["actor"], record["entity"]) == ("admin", "opportunities")
    assert '"rows": ' + str(_table(store, "opportunities").height) in record["after"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_a_failed_export_leaves_no_file_and_keeps_an_existing_one(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    fresh, existing = out / f"fresh.{fmt}", out / f"existing.{fmt}"
    existing.write_bytes(b"the earlier export")

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", fail)  # fails after the rows were written to the partial file
    for path in (fresh, existing):
        with pytest.raises(RuntimeError, match="disk full"):
            exports.export_entity(store, exports.CLI_ACTOR, "activities", path, now=NOW)
    assert sorted(p.name for p in out.iterdir()) == [existing.name]
    assert existing.read_bytes() == b"the earlier export"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_a_page_table_becomes_the_bytes_of_each_format(fmt: str) -> None:
    frame = pl.DataFrame({"rep": ["Ann", "Bo", None], "won": [3, 0, 1], "revenue": [1200.5, 0.0, 99.25]})
    data = exports.frame_bytes(frame, fmt)
    back = {"csv": pl.read_csv, "parquet": pl.read_parquet, "xlsx": pl.read_excel}[fmt](io.BytesIO(data))
    assert_frame_equal(back, frame, check_dtypes=False)
