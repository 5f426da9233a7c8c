"""Email tracking: the small HTTP service that answers the open pixel, the signed click redirects and the
inbound-reply webhook, and the scheduler job that moves what it saw into the store.

The app and the scheduler already take turns over the DuckDB file; a third process writing to it would fight
them for the lock on every pixel a mail client fetches. So the service never opens the store (this module
imports nothing that does): it appends each event as one JSON line to a spool folder beside the store
(`<db>.tracking/events.jsonl`), and `ingest`, a scheduler job, moves the spooled events into `email_events`
in one short write.

A click link is `{base}/c/{token}?u=<url>&s=<HMAC of token and url>`: only a URL that the app signed for that
email redirects, so the service is no open redirect even though it cannot look the email up. The key comes
from FLASHDASH_TRACKING_SECRET, else `[tracking] secret` in .streamlit/secrets.toml, else a key generated once
into a git-ignored file beside the store (as the cookie key is), which the app, the scheduler and the
service all find from the store's path.

Run it with `python -m flashdash.tracking [--port 8502] [--host 127.0.0.1] [--db PATH]`; its public address,
the one written into emails, is FLASHDASH_TRACKING_URL (default http://localhost:8502).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:  # the service never imports the store; only ingest (run by the scheduler) is handed one
    from flashdash.store import Store

log = logging.getLogger(__name__)

DEFAULT_PORT = 8502
DEFAULT_URL = f"http://localhost:{DEFAULT_PORT}"
DEFAULT_DB = Path("data/flashdash.duckdb")  # as flashdash.store.db_path, without importing DuckDB
ROOT = Path(__file__).resolve().parent.parent
KINDS = ("open", "click", "reply")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # mail.queue_email's tokens: secrets.token_urlsafe(16)
MAX_URL = 2048
MAX_BODY = 64 * 1024  # the reply webhook reads no body; anything bigger is refused before it is read
SIGNATURE_CHARS = 32  # 128 bits of HMAC-SHA256, hex
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0", "Pragma": "no-cache",
            "Expires": "0"}
# A transparent 1x1 GIF.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


# ---------------------------------------------------------------- settings


def secrets_section(section: str, path: Path | None = None) -> dict[str, Any]:
    """One table of .streamlit/secrets.toml (the working folder's, else the project's), read without Streamlit
    so that the scheduler and this service see what the app sees; {} when there is none."""
    candidates = [path] if path is not None else [Path.cwd() / ".streamlit" / "secrets.toml",
                                                  ROOT / ".streamlit" / "secrets.toml"]
    for candidate in candidates:
        if candidate.is_file():
            with candidate.open("rb") as fh:
                value = tomllib.load(fh).get(section, {})
            return dict(value) if isinstance(value, dict) else {}
    return {}


def db_path() -> Path:
    return Path(os.environ.get("FLASHDASH_DB") or DEFAULT_DB)


def spool_dir(db: Path) -> Path:
    """Where the service spools events for the store at `db`: `<db>.tracking/`."""
    return db.with_name(db.name + ".tracking")


def base_url() -> str:
    """The service's public address, written into every email: FLASHDASH_TRACKING_URL, else secrets'
    `[tracking] url`, else http://localhost:8502 (which only reaches a mail client on this machine)."""
    url = os.environ.get("FLASHDASH_TRACKING_URL") or secrets_section("tracking").get("url") or DEFAULT_URL
    return str(url).rstrip("/")


def tracking_secret(db: Path, secrets_path: Path | None = None) -> bytes:
    """The key that signs click links: FLASHDASH_TRACKING_SECRET, else `[tracking] secret`, else a key
    generated once into `.tracking_key` beside the store (mode 600, git-ignored with data/)."""
    configured = os.environ.get("FLASHDASH_TRACKING_SECRET") or secrets_section("tracking", secrets_path).get("secret")
    if configured:
        return str(configured).encode()
    key_file = db.parent / ".tracking_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: the app, the scheduler and the service may start together; one of them writes the key
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # a key file another process has just created may still be empty for a moment
        text = key_file.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.01)
    raise RuntimeError(f"the tracking key file {key_file} is empty; delete it and start again")


# ---------------------------------------------------------------- signed links


def sign(secret: bytes, token: str, value: str) -> str:
    """The HMAC that ties `value` (a URL, or 'reply') to one email's token."""
    return hmac.new(secret, f"{token}\n{value}".encode(), hashlib.sha256).hexdigest()[:SIGNATURE_CHARS]


def verify(secret: bytes, token: str, value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, token, value), signature or "")


def pixel_url(base: str, token: str) -> str:
    return f"{base}/o/{token}.gif"


def click_url(base: str, secret: bytes, token: str, url: str) -> str:
    return f"{base}/c/{token}?u={quote(url, safe='')}&s={sign(secret, token, url)}"


def reply_key(secret: bytes) -> str:
    """The key an inbound-mail relay presents to POST /r/{token} (header X-Flashdash-Key, or ?key=)."""
    return hmac.new(secret, b"reply-webhook", hashlib.sha256).hexdigest()[:SIGNATURE_CHARS]


def reply_url(base: str, secret: bytes, token: str) -> str:
    return f"{base}/r/{token}?key={reply_key(secret)}"


def trackable(url: str) -> bool:
    """Only web links are rewritten and redirected (never javascript:, data:, mailto: ...)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(url) <= MAX_URL


# ---------------------------------------------------------------- the spool


class Spool:
    """Events as JSON lines in `<db>.tracking/`, written by the service and moved into the store by `ingest`.

    Writers append whole lines to `events.jsonl` under an exclusive flock, and check after locking that the
    name still means the file they opened. `claim` renames `events.jsonl` to a batch file first and then takes
    the same lock: a writer that had the lock before finishes its line into the batch, one that gets it after
    sees the rename and writes to a new `events.jsonl`. So no line is lost or read half-written. A batch file
    is deleted only after its events are committed; one left by a crash is read again next time, and the
    insert skips events already stored.
    """

    CURRENT = "events.jsonl"
    BATCH_GLOB = "batch-*.jsonl"

    def __init__(self, folder: Path):
        self.folder = folder
        self.current = folder / self.CURRENT

    def append(self, event: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(event, separators=(",", ":"), sort_keys=True) + "\n").encode()
        for _ in range(100):
            fd = os.open(self.current, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.stat(self.current).st_ino != os.fstat(fd).st_ino:
                        continue  # claimed between our open and our lock: write to the new file
                except FileNotFoundError:
                    continue
                os.write(fd, line)  # one write of one line: O_APPEND keeps it whole
                return
            finally:
                os.close(fd)  # closing drops the flock
        raise OSError(f"could not append to {self.current}: it was claimed 100 times in a row")

    @contextmanager
    def ingesting(self) -> Iterator[None]:
        """One ingest at a time, across threads and processes (the batch files are shared work): flock locks
        belong to each opening of the file, so two threads of one process exclude each other too."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".ingest.lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def claim(self) -> list[Path]:
        """Turn the current file into a batch and return every batch waiting (a crashed ingest's too)."""
        batch = self.folder / f"batch-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            os.rename(self.current, batch)
        except FileNotFoundError:
            pass
        else:
            fd = os.open(batch, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a writer that locked before the rename
            finally:
                os.close(fd)
        return sorted(self.folder.glob(self.BATCH_GLOB))


def read_events(paths: list[Path]) -> tuple[list[dict[str, Any]], int]:
    """The well-formed events in these spool files, and how many lines were not."""
    events, bad = [], 0
    for path in paths:
        for raw in path.read_bytes().splitlines():
            event = parse_event(raw)
            if event is None:
                bad += 1
            else:
                events.append(event)
    return events, bad


def parse_event(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
        event = {"kind": data["kind"], "token": data["token"], "at": datetime.fromisoformat(data["at"]),
                 "url": data.get("url")}
    except (ValueError, KeyError, TypeError):
        return None
    ok = (event["kind"] in KINDS and isinstance(event["token"], str) and TOKEN_RE.match(event["token"])
          and (event["url"] is None or (isinstance(event["url"], str) and len(event["url"]) <= MAX_URL)))
    return event if ok else None


def new_event(kind: str, token: str, url: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    # Microseconds: the store tells a spooled event it already has by (email, kind, time, url).
    return {"kind": kind, "token": token, "at": (at or datetime.now()).isoformat(timespec="microseconds"),
            "url": url}


# ---------------------------------------------------------------- the service


def create_app(db: Path, secret: bytes | None = None) -> Starlette:
    """The tracking service for the store at `db` (which it never opens)."""
    spool = Spool(spool_dir(db))
    key = secret if secret is not None else tracking_secret(db)

    def pixel(request: Request) -> Response:
        token = request.path_params["token"]
        if TOKEN_RE.match(token):  # unknown tokens get the pixel too, and are dropped by ingest
            _record(spool, new_event("open", token))
        return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)

    def click(request: Request) -> Response:
        token = request.path_params["token"]
        url = request.query_params.get("u", "")
        signature = request.query_params.get("s", "")
        if not (TOKEN_RE.match(token) and trackable(url) and verify(key, token, url, signature)):
            return PlainTextResponse("This link is not valid.", status_code=400, headers=NO_CACHE)
        _record(spool, new_event("click", token, url))
        return RedirectResponse(url, status_code=302, headers=NO_CACHE)

    def reply(request: Request) -> Response:
        token = request.path_params["token"]
        given = request.headers.get("x-flashdash-key") or request.query_params.get("key", "")
        if not (TOKEN_RE.match(token) and hmac.compare_digest(reply_key(key), given)):
            return PlainTextResponse("Refused.", status_code=400)
        _record(spool, new_event("reply", token))
        return JSONResponse({"recorded": True}, status_code=202)

    def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_CACHE)

    return Starlette(routes=[
        Route("/o/{token}.gif", pixel, methods=["GET", "HEAD"]),
        Route("/c/{token}", click, methods=["GET", "HEAD"]),
        Route("/r/{token}", reply, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ], max_body_size=MAX_BODY)


def _record(spool: Spool, event: dict[str, Any]) -> None:
    try:
        spool.append(event)
    except OSError as exc:  # a full disk must not turn the pixel into an error page in someone's inbox
        log.error("tracking event not spooled: %s", exc)


# ---------------------------------------------------------------- the scheduler's side


def ingest(store: Store, now: datetime,
           on_replies: Callable[[Store, Any, list[int], datetime], Any] | None = None) -> int:
    """Scheduler job: move the spooled events into email_events in one short write; returns the rows added.

    Each event lands once: a batch file is deleted only after the write commits, a batch left by a crash is
    read again, and the insert skips an event already stored (same email, kind, time and url). Events for a
    token no email has are dropped. `on_replies(store, con, lead_ids, now)` runs inside the same write for
    the leads whose email got a new reply (to pause their sequences)."""
    spool = Spool(spool_dir(store.path))
    with spool.ingesting():
        batches = spool.claim()
        events, bad = read_events(batches)
        if bad:
            log.warning("ingest: %d malformed spool lines skipped", bad)
        added = 0
        if events:
            with store.write() as con:
                added_rows = store.frame(
                    "tracking_events_insert", con, tokens=[e["token"] for e in events],
                    kinds=[e["kind"] for e in events], ats=[e["at"] for e in events],
                    urls=[e["url"] for e in events])
                added = added_rows.height
                replies = added_rows.filter(added_rows["kind"] == "reply")["email_id"].to_list()
                if on_replies is not None and replies:
                    leads = store.frame("tracking_leads_of_emails", con, email_ids=replies)
                    on_replies(store, con, sorted(leads["lead_id"].to_list()), now)
        for batch in batches:
            batch.unlink(missing_ok=True)
    return added


# ---------------------------------------------------------------- python -m flashdash.tracking


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m flashdash.tracking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("TRACKING_PORT") or DEFAULT_PORT))
    parser.add_argument("--host", default=os.environ.get("TRACKING_HOST") or "127.0.0.1",
                        help="0.0.0.0 to answer mail clients on other machines (behind FLASHDASH_TRACKING_URL)")
    parser.add_argument("--db", type=Path, default=None, help="the store (default FLASHDASH_DB or data/)")
    args = parser.parse_args(argv)
    db = args.db or db_path()
    app = create_app(db)
    # No access log: its lines would carry every email's token and every link a lead clicked.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
