"""The tracking service as `make run` starts it (python -m flashdash.tracking, a real uvicorn on a free port):
the pixel, signed and forged links, the reply webhook, and ingest moving what it spooled into the store once."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from flashdash import mail, tracking
from flashdash.store import Store
from tests.conftest import NOW, ROOT

SECRET = "tracking-test-secret"
URL = "https://flashpay.example/pricing?plan=pro&x=1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            con.request(method, path, headers=headers or {})
            resp = con.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            con.close()


@pytest.fixture
def store(demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("FLASHDASH_TRACKING_SECRET", SECRET)
    return demo_copy


@pytest.fixture
def service(store: Store) -> Iterator[Service]:
    port = _free_port()
    env = {**os.environ, "FLASHDASH_TRACKING_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "flashdash.tracking", "--port", str(port), "--db", str(store.path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    svc = Service(proc, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if svc.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the tracking service did not start: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.05)
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _queued_tokens(store: Store, n: int) -> list[tuple[int, int, str]]:
    """n emails queued to leads with an address: (email id, lead id, token)."""
    with store.write() as con:
        leads = [r[0] for r in con.execute("SELECT id FROM leads WHERE email IS NOT NULL AND contact_name IS NOT NULL "
                                           "ORDER BY id LIMIT ?", [n]).fetchall()]
        ids = [mail.queue_email(store, con, "test", lead, "Hi", "See https://flashpay.example/pricing", NOW)
               for lead in leads]
        rows = con.execute("SELECT id, lead_id, token FROM emails WHERE list_contains(?, id) ORDER BY id",
                           [ids]).fetchall()
    return [tuple(r) for r in rows]


def _events(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as con:
        return con.execute("SELECT email_id, kind, url FROM email_events ORDER BY email_id, kind").fetchall()


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_pixel_a_signed_link_and_a_reply_land_in_the_store_once(store: Store, service: Service) -> None:
    [(email_id, lead_id, token)] = _queued_tokens(store, 1)
    key = SECRET.encode()

    status, headers, body = service.request("GET", f"/o/{token}.gif")
    assert (status, headers["content-type"], body) == (200, "image/gif", tracking.PIXEL)
    assert "no-store" in headers["cache-control"]

    status, headers, _ = service.request("GET", _path_and_query(tracking.click_url(service.base, key, token, URL)))
    assert (status, headers["location"]) == (302, URL)

    status, _, _ = service.request("POST", f"/r/{token}", {"X-Flashdash-Key": tracking.reply_key(key)})
    assert status == 202

    replied: list[list[int]] = []
    added = tracking.ingest(store, NOW, on_replies=lambda s, con, leads, now: replied.append(leads))
    assert added == 3 and replied == [[lead_id]]
    assert _events(store) == [(email_id, "click", URL), (email_id, "open", None), (email_id, "reply", None)]
    assert tracking.ingest(store, NOW) == 0 and len(_events(store)) == 3


def test_forged_links_unknown_tokens_and_unkeyed_replies_are_answered_without_leaking(store: Store,
                                                                                      service: Service) -> None:
    [(_, _, token)] = _queued_tokens(store, 1)
    key = SECRET.encode()
    good = tracking.click_url(service.base, key, token, URL)
    forged = good.replace("flashpay.example", "evil.example")
    status, headers, body = service.request("GET", _path_and_query(forged))
    assert status == 400 and "location" not in headers and b"evil" not in body and token.encode() not in body
    other_key = tracking.click_url(service.base, b"not the key", token, URL)
    assert service.request("GET", _path_and_query(other_key))[0] == 400
    no_signature = _path_and_query(good).split("&s=")[0]
    assert service.request("GET", no_signature)[0] == 400
    script = tracking.click_url(service.base, key, token, "javascript:alert(1)")
    assert service.request("GET", _path_and_query(script))[0] == 400

    unknown = "unknownTOKEN_0123456789"
    status, headers, body = service.request("GET", f"/o/{unknown}.gif")
    assert (status, body) == (200, tracking.PIXEL)
    assert service.request("POST", f"/r/{token}")[0] == 400
    assert service.request("POST", f"/r/{token}?key=wrong")[0] == 400
    assert tracking.ingest(store, NOW) == 0 and _events(store) == []  # the unknown token's open is dropped


def test_the_service_never_opens_the_store(store: Store, service: Service) -> None:
    [(_, _, token)] = _queued_tokens(store, 1)
    service.request("GET", f"/o/{token}.gif")
    files = {Path(f.path).name for f in psutil.Process(service.proc.pid).open_files()}
    assert not any(name.startswith(store.path.name) and not name.endswith(".jsonl") for name in files)
    with store.write() as con:  # and the store is free for the app and the scheduler while it runs
        con.execute("SELECT 1").fetchall()


def test_a_spool_batch_read_again_after_a_crash_adds_nothing_and_a_left_batch_is_read(store: Store) -> None:
    [(email_id, _, token)] = _queued_tokens(store, 1)
    spool = tracking.Spool(tracking.spool_dir(store.path))
    first = tracking.new_event("open", token, at=datetime(2026, 6, 30, 12, 0, 0, 1))
    spool.append(first)
    assert tracking.ingest(store, NOW) == 1
    # A crash after the commit and before the batch file went: the same lines are read again.
    second = tracking.new_event("open", token, at=datetime(2026, 6, 30, 12, 5, 0, 2))
    (spool.folder / "batch-crashed.jsonl").write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    assert tracking.ingest(store, NOW) == 1
    with store.read() as con:
        times = con.execute("SELECT occurred_at FROM email_events WHERE email_id = ? ORDER BY 1", [email_id]).fetchall()
    assert [t for (t,) in times] == [datetime(2026, 6, 30, 12, 0, 0, 1), datetime(2026, 6, 30, 12, 5, 0, 2)]
    assert list(spool.folder.glob("*.jsonl")) == []


def test_no_event_is_lost_while_writers_append_during_claims(tmp_path: Path) -> None:
    spool = tracking.Spool(tmp_path / "spool")
    per_writer, writers = 400, 4
    done = threading.Event()
    read: list[dict] = []

    def write(n: int) -> None:
        for i in range(per_writer):
            spool.append(tracking.new_event("open", f"token{n:02d}xxxxxxxxxxxx",
                                            at=datetime(2026, 1, 1) + timedelta(microseconds=n * per_writer + i)))

    def claim_until_done() -> None:
        while True:
            finished = done.is_set()
            with spool.ingesting():
                batches = spool.claim()
                events, bad = tracking.read_events(batches)
                assert bad == 0
                read.extend(events)
                for b in batches:
                    b.unlink()
            if finished:
                return

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    claimer = threading.Thread(target=claim_until_done)
    claimer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    claimer.join(timeout=60)
    assert len(read) == per_writer * writers
    assert len({(e["token"], e["at"]) for e in read}) == per_writer * writers
