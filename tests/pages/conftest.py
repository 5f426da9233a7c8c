import pytest

from flashdash.store import Store
from tests.pages.apptest import page_env  # noqa: F401  (autouse: every page test runs against the demo store)


@pytest.fixture
def live_store(demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The pages run against a copy of the demo store that the test's clicks may change."""
    monkeypatch.setenv("FLASHDASH_DB", str(demo_copy.path))
    return demo_copy
