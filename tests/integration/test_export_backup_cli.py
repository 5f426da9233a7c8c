"""`python -m flashdash export | backup | restore`: one-line summaries, and `error: ...` with exit 2."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash.__main__ import main
from flashdash.store import Store, copy_file


@pytest.fixture
def db(demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLASHDASH_NOW", "2026-07-01T08:00:00")
    copy = tmp_path / "live" / "demo.duckdb"
    copy.parent.mkdir()
    copy_file(demo_store.path, copy)
    return copy


def test_export_writes_the_file_and_says_how_many_rows(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "leads.parquet"
    assert main(["export", "leads", str(out), "--db", str(db)]) == 0
    assert pl.read_parquet(out).height == 2_000
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Exported 2,000 leads rows to {out} in ") and line.endswith(" s.")


def test_export_takes_the_format_from_the_option(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "teams.txt"
    assert main(["export", "teams", str(out), "--format", "csv", "--db", str(db)]) == 0
    with Store(db).read() as con:
        teams = con.sql("SELECT * FROM teams").pl()
    assert_frame_equal(pl.read_csv(out, schema=teams.schema).sort("id"), teams.sort("id"))


@pytest.mark.parametrize(("args", "message"), [
    (["export", "deals", "deals.csv"], "no entity 'deals' to export. Choose one of: activities,"),
    (["export", "leads", "leads.json"], "name the file .csv, .xlsx or .parquet"),
    (["restore", "nowhere"], "There is no backup folder"),
])
def test_mistakes_exit_2_with_an_error_line(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                             args: list[str], message: str) -> None:
    args = [a if a in ("export", "restore", "leads", "deals") else str(tmp_path / a) for a in args]
    assert main([*args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_backup_then_restore_from_the_command_line(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "bk"
    assert main(["backup", str(folder), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Backed up ") and f"to {folder} (" in out and (folder / "manifest.json").exists()

    assert main(["restore", str(folder), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    kept = db.with_name("demo.before-restore-20260701-080000.duckdb")
    assert out.startswith("Restored ") and f"kept at {kept}" in out and "python -m flashdash train" in out
    assert kept.exists() and Store(db).scalar("count_leads") == 2_000


def test_backup_into_a_foreign_folder_exits_2(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["backup", str(db.parent), "--db", str(db)]) == 2
    assert "not empty and holds no backup" in capsys.readouterr().err
