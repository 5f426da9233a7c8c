"""The Admin page's "Export & backup" tab, and the three downloads under every table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest

from flashdash import backup, exports
from flashdash.store import Store
from tests.pages.apptest import open_page, texts


@pytest.fixture
def store(live_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The page's copy of the demo store (exports and backups write audit records), backups in tmp."""
    monkeypatch.setenv("FLASHDASH_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the tab writes its export files
    return live_store


def _downloads(at) -> dict[str, str]:
    return {b.key: b.label for b in at.get("download_button")}


def test_every_table_offers_csv_excel_and_parquet() -> None:
    at = open_page("admin", "admin")
    assert not at.exception
    found = _downloads(at)
    for table in ("usr.list", "admin.tables", "admin.audit"):
        assert [found.get(f"{table}.{fmt}") for fmt in ("csv", "xlsx", "parquet")] == ["CSV", "Excel", "Parquet"]


def test_an_admin_exports_an_entity_and_gets_a_download(store: Store, tmp_path: Path) -> None:
    at = open_page("admin", "admin")
    assert "Export & backup" in [t.label for t in at.tabs]
    at.selectbox(key="admin.export.entity").set_value("users")
    at.segmented_control(key="admin.export.format").set_value("parquet")
    at.button(key="admin.export.run").click().run()
    assert not at.exception and not at.error

    label = _downloads(at)["admin.export.download"]
    assert label.startswith("Download users-") and ".parquet (5 rows," in label
    path = Path(at.session_state["admin.export.file"]["path"])
    assert path.parent.parent == tmp_path
    exported = pl.read_parquet(path)
    assert exported.height == 5 and "password_hash" not in exported.columns
    assert store.frame("audit_recent", limit=1)["action"].to_list() == ["export"]


def test_excel_over_the_sheet_limit_is_refused_with_the_count(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 1_000)
    at = open_page("admin", "admin")
    at.selectbox(key="admin.export.entity").set_value("leads")
    at.segmented_control(key="admin.export.format").set_value("xlsx")
    at.button(key="admin.export.run").click().run()
    assert not at.exception
    assert any("2,000 rows" in e.value and "CSV or Parquet" in e.value for e in at.error)
    assert "admin.export.download" not in _downloads(at)


def test_back_up_now_writes_a_backup_and_lists_it(store: Store, tmp_path: Path) -> None:
    at = open_page("admin", "admin")
    assert "There are no backups here yet." in texts(at)
    assert "python -m flashdash restore DIR" in texts(at)

    at.button(key="admin.backup.run").click().run()
    assert not at.exception
    assert any(s.value.startswith("Backed up ") for s in at.success)
    [folder] = (tmp_path / "backups").iterdir()
    assert backup.verify(folder)["tables"]["leads"] == 2_000
    listed = next(df.value for df in at.dataframe if "backup" in df.value.columns)
    assert list(listed["backup"]) == [folder.name] and list(listed["leads"]) == [2_000]
