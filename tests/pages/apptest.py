"""Running a page with AppTest as a signed-in user (or nobody), with query parameters and a date preset."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from flashdash import access
from flashdash.store import Store
from tests.conftest import NOW, ROOT

ROLES = ("rep", "manager", "analyst", "executive", "admin")


@pytest.fixture(autouse=True)
def page_env(demo_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASHDASH_DB", str(demo_store.path))
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())
    monkeypatch.setenv("FLASHDASH_MODELS", str(demo_store.path.parent / "models"))
    monkeypatch.setenv("FLASHDASH_COOKIE_KEY", "test-cookie-key")


# Pages whose tabs run only the open one (st.tabs with a key and on_change="rerun"): the tabs' key.
TAB_KEYS = {"activities": "act.tab", "revenue": "rev.tab"}


def open_page(page_key: str, username: str | None, query: dict[str, str] | None = None,
              preset: str | None = "Last 12 months", tab: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / access.PAGE_BY_KEY[page_key].path), default_timeout=60)
    if tab:
        at.session_state[TAB_KEYS[page_key]] = tab
    if username:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = username
    if preset:
        at.session_state["flt.preset"] = preset
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.subheader)]
    return "\n".join(str(p) for p in parts)




def switch_tab(at: AppTest, page_key: str, label: str) -> AppTest:
    """Open another tab of a page that runs only its open tab, as a click on it does (a rerun)."""
    at.session_state[TAB_KEYS[page_key]] = label
    return at.run()
