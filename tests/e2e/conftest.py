"""The real thing: an XS demo store, the Streamlit server on a free port, and Debian's headless Chromium.

Nothing here downloads a browser: Playwright's Python client drives /usr/bin/chromium. Without it (or
without the playwright package) every e2e test skips with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
AS_OF = "2026-06-30T12:00"
NOW = "2026-06-30T12:00:00"
TIMEOUT_MS = 30_000  # Streamlit renders asynchronously: wait for elements, never sleep
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's closed network refuses Chromium's own calls home
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"


def _skip_without_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`) to run e2e tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (it is in requirements-dev.txt)")


@pytest.fixture(scope="session")
def e2e_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every process the e2e tests start: a tmp store and models dir, a pinned clock."""
    _skip_without_browser()  # before building anything
    root = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ)
    env.update(
        FLASHDASH_DB=str(root / "flashdash.duckdb"),
        FLASHDASH_MODELS=str(root / "models"),
        FLASHDASH_NOW=NOW,
        FLASHDASH_COOKIE_KEY="e2e-cookie-key-not-secret",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def demo_store(e2e_env: dict[str, str]) -> Path:
    """An XS demo store with the demo users and a trained model, built once per session."""
    db = Path(e2e_env["FLASHDASH_DB"])
    log = db.with_name("demo.log")
    cmd = [sys.executable, "-m", "flashdash", "demo", "--scale", "XS", "--db", str(db), "--as-of", AS_OF]
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=e2e_env, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd[1:])}` exited {proc.returncode}:\n{_tail(log)}")
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def streamlit_server(env: dict[str, str], log: Path, startup_timeout: float = 60) -> Iterator[str]:
    """`streamlit run app.py` on a free port; yields its base URL once /_stcore/health answers."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _healthy(url):
                if proc.poll() is not None:
                    pytest.fail(f"the Streamlit server exited {proc.returncode} at start-up:\n{_tail(log)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the Streamlit server did not answer in {startup_timeout:.0f} s:\n{_tail(log)}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def server(demo_store: Path, e2e_env: dict[str, str]) -> Iterator[str]:
    """One server for the tests that log in (each test has its own browser context: no shared cookies)."""
    with streamlit_server(e2e_env, demo_store.with_name("server.log")) as url:
        yield url


@pytest.fixture
def fresh_server(demo_store: Path, e2e_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A server of its own that no session has used yet (the deep-URL pitfall needs a fresh one)."""
    with streamlit_server(e2e_env, tmp_path / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless. Playwright's launch() gives each browser a fresh temporary profile."""
    _skip_without_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    # Lets the page fixture see whether its test failed, to keep a screenshot of what the browser showed.
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A page in a new browser context: no cookies, no session from any other test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_FAILED, False):
            SCREENSHOTS.mkdir(exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
            page.screenshot(path=str(SCREENSHOTS / f"FAILED-{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def screenshot() -> Callable[[object, str], Path]:
    """Save a full-page screenshot to tests/e2e/screenshots/NAME.png (git-ignored)."""

    def save(page, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
