"""Shared fixtures: a real DuckDB store with XS demo data, built once per test session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flashdash.store import Store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 30, 12, 0)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """XS demo org as of NOW, with the demo users and a trained conversion model."""
    from flashdash import demo, predictive, users

    root = tmp_path_factory.mktemp("demo")
    store = Store(root / "demo.duckdb")
    demo.generate(store, "XS", seed=7, now=NOW)
    users.create_demo_users(store, NOW)
    mp = pytest.MonkeyPatch()
    mp.setenv("FLASHDASH_MODELS", str(root / "models"))
    predictive.train(store, NOW)
    mp.undo()
    return store
