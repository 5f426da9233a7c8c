"""Shared fixtures: a real DuckDB store with XS demo data, built once per test session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flashdash.store import Store, copy_file

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 30, 12, 0)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """XS demo org as of NOW, with the demo users and a trained conversion model; without the Phase 2 history
    (tasks, emails, templates), so that tests of tasks and email start from none (test_demo_history has it)."""
    from flashdash import demo, predictive, users

    root = tmp_path_factory.mktemp("demo")
    store = Store(root / "demo.duckdb")
    demo.generate(store, "XS", seed=7, now=NOW, history=False)
    users.create_demo_users(store, NOW)
    mp = pytest.MonkeyPatch()
    mp.setenv("FLASHDASH_MODELS", str(root / "models"))
    predictive.train(store, NOW)
    mp.undo()
    return store


@pytest.fixture
def demo_copy(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the demo store that the test may change (the session's store stays as it was)."""
    copy = tmp_path / "copy" / "demo.duckdb"
    copy.parent.mkdir()
    copy_file(demo_store.path, copy)
    return Store(copy)


# The Olist marketing funnel: a committed sample (tests/fixtures/olist) and, when present, the full files.
OLIST_SAMPLE = ROOT / "tests" / "fixtures" / "olist"
OLIST_FULL = ROOT.parent / "shared" / "data" / "olist-marketing-funnel"


def _olist_store(factory: pytest.TempPathFactory, name: str, source: Path) -> Store:
    """`python -m flashdash import --preset olist SOURCE` into an empty store, demo logins, a trained model."""
    from flashdash import predictive, users
    from flashdash.__main__ import main

    root = factory.mktemp(name)
    store = Store(root / f"{name}.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_NOW", NOW.isoformat())
        mp.setenv("FLASHDASH_MODELS", str(root / "models"))
        code = main(["import", "--preset", "olist", str(source), "--db", str(store.path), "--quiet",
                     "--quarantine-dir", str(root / "quarantine")])
        assert code == 0, f"importing {source} exited {code}"
        users.create_demo_users(store, NOW)
        predictive.train(store, NOW)
    return store


@pytest.fixture(scope="session")
def olist_sample_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The committed Olist sample imported into an empty store (400 leads, 100 won)."""
    return _olist_store(tmp_path_factory, "olist-sample", OLIST_SAMPLE)


@pytest.fixture(scope="session")
def olist_full_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The full Olist files imported into an empty store; skips when ../shared/data does not have them."""
    if not (OLIST_FULL / "olist_marketing_qualified_leads_dataset.csv").is_file():
        pytest.skip(f"the full Olist files are not at {OLIST_FULL} (optional test data); the sample in "
                    "tests/fixtures/olist is tested instead")
    return _olist_store(tmp_path_factory, "olist-full", OLIST_FULL)
