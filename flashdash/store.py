"""The only module that opens DuckDB: units of work, named SQL, retry on lock, data version.

DuckDB lets one process hold a file read-write and then refuses every other process, so no
process holds the store while idle: a unit of work opens a connection, runs, commits and closes.
A lock held by another process is retried with jittered backoff for `lock_timeout` seconds and
then surfaces as `StoreLocked`, whose message says what to do; processes take turns (_Turns), so that
one kept busy by many threads cannot starve another of the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from duckdb_engine import ConnectionWrapper
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from flashdash import crypto, entities, pii  # noqa: F401  (entities registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)

DEFAULT_DB = Path("data/flashdash.duckdb")
SQL_DIR = Path(__file__).parent / "sql"
DEFAULT_LOCK_TIMEOUT = 15.0  # seconds; FLASHDASH_LOCK_TIMEOUT overrides


class StoreError(RuntimeError):
    """A problem with the store that a person can act on; the message says how."""


class StoreMissing(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class StoreLocked(StoreError):
    pass


def db_path() -> Path:
    """The store in use: FLASHDASH_DB, else data/flashdash.duckdb."""
    return Path(os.environ.get("FLASHDASH_DB") or DEFAULT_DB)


# ---------------------------------------------------------------- named SQL


_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def queries() -> dict[str, str]:
    """Every `-- name: x` block of flashdash/sql/*.sql, by name."""
    found: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        text = path.read_text()
        marks = list(_NAME_RE.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            name = m.group(1)
            if name in found:
                raise ValueError(f"query {name!r} is defined twice (second time in {path.name})")
            found[name] = text[m.end() : end].strip().rstrip(";")
    return found


_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")


@cache
def _param_names(name: str) -> frozenset[str]:
    return frozenset(_PARAM_RE.findall(sql(name)))


def bind(name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters a named query uses, taken from `params` (DuckDB refuses unused ones)."""
    wanted = _param_names(name)
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"query {name!r} needs parameters {sorted(missing)}")
    return {k: params[k] for k in wanted} or None


def sql(name: str) -> str:
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in {SQL_DIR}") from None


# ---------------------------------------------------------------- timing


@dataclass
class QueryTiming:
    name: str
    seconds: float


# The benchmark reads this to compare page render time with raw DuckDB time.
QUERY_LOG: deque[QueryTiming] = deque(maxlen=10_000)


@dataclass
class LockWait:
    """One opening of the store: how long it waited for another process, its hold or its turn (0 when it
    did not wait)."""

    kind: str  # read | write
    seconds: float
    attempts: int


# Every opening in this process, newest last: the coexistence benchmark reads the waits from it.
LOCK_WAITS: deque[LockWait] = deque(maxlen=100_000)


# ---------------------------------------------------------------- taking turns with other processes


PATIENCE = 0.2  # seconds an opening waits for the file before it asks the other processes for their turn
DEFER_MAX = 5.0  # seconds an opening steps aside at most for another process that waits for the store
POLL_MIN, POLL_MAX = 0.01, 0.05  # seconds between a process's attempts to open a store another process holds


class _Turns:
    """How this process takes turns with other processes over one store file (one per file, for all Stores).

    DuckDB's lock is not fair. A process whose threads run overlapping units of work (the app, with several
    people at once) can keep the file open with no gap for seconds on end, and another process (the
    scheduler) that polls for it gets in only when a poll happens to fall into a gap: its units waited for
    seconds, and under load past lock_timeout, failing with StoreLocked. So:

    - a process that has waited PATIENCE for the file says so: it holds a shared flock on a flag file while
      any of its threads waits that long and none holds the store (the kernel drops it if the process dies).
      A shorter wait ends in one of the other process's gaps anyway, and each forced turn costs a close and an
      open of the file (a checkpoint, a WAL replay), so the processes trade turns only when one would
      starve. The flag file is in the temporary folder, named after the store's real path, so the store's
      folder holds nothing new; processes that do not share that folder (or path) do not take turns, as before;
    - a process that sees another one waiting starts no new unit of work until the other got the file or
      stopped waiting, for DEFER_MAX at most; its units under way finish (a thread already inside one is not
      held up), the file closes, the waiter gets in, and the turn comes back the same way;
    - the waiting threads of a process try to open the file one at a time, every POLL_MIN to POLL_MAX, so a
      waiter sees the file free within tens of milliseconds without a storm of failed opens.
    """

    def __init__(self, path: Path):
        name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
        self.flag_path = Path(tempfile.gettempdir()) / f"flashdash-{name}.waiting"
        self.mutex = threading.Lock()  # guards the counts and the flag
        self.attempt = threading.Lock()  # one attempt to open at a time in this process
        # One write transaction at a time in this process: DuckDB's optimistic concurrency fails the second of two
        # concurrent transactions that change one row ("Conflict on update"), a user's write lost to an error.
        # Reentrant: a write unit may open another in the same thread.
        self.writer = threading.RLock()
        self.holders = 0  # connections of this process open on the store
        self.waiting = 0  # openings of this process waiting for another process to let go
        self.last_failure = 0.0  # when an attempt of this process last found the file held (monotonic)
        self.local = threading.local()  # .depth: connections the current thread has open
        self._flag: int | None = None  # fd holding our shared flock while we wait
        self._probe: int | None = None  # fd that looks for other processes' shared flocks
        self._broken = False  # the flag file cannot be used (e.g. a read-only folder): no turns, as before

    def depth(self) -> int:
        return getattr(self.local, "depth", 0)

    def _open_flag_file(self, create: bool) -> int | None:
        # Read-only is enough for flock, and lets a process of another user open a file this one made. Only a
        # waiter creates the file: most stores never see a wait, and leave nothing behind.
        try:
            return os.open(self.flag_path, os.O_RDONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o644)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not create:
                return None  # no process ever waited for this store
            if not self._broken:
                log.warning("cannot take turns with other processes through %s: %s", self.flag_path, exc)
            self._broken = True
            return None

    def others_waiting(self) -> bool:
        """Whether another process waits for the store (never true while this one waits itself)."""
        with self.mutex:
            if self._broken or self._flag is not None:
                return False
            if self._probe is None:
                self._probe = self._open_flag_file(create=False)
                if self._probe is None:
                    return False
            try:
                fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(self._probe, fcntl.LOCK_UN)
            try:  # a flag file removed meanwhile (a cleaner of the temporary folder) is looked for anew
                if os.stat(self.flag_path).st_ino != os.fstat(self._probe).st_ino:
                    raise FileNotFoundError
            except FileNotFoundError:
                os.close(self._probe)
                self._probe = None
            return False

    def step_aside(self, until: float) -> bool:
        """Start no unit of work while another process waits for the store, until `until` at most; True if
        it stepped aside. A thread inside a unit of work does not: its process cannot let go before it ends."""
        if self.depth() > 0:
            return False
        stepped = False
        while time.monotonic() < until and self.others_waiting():
            stepped = True
            time.sleep(POLL_MIN)
        return stepped

    def _update_flag(self) -> None:
        # With the mutex held: the flag is up exactly while openings wait and no connection is open.
        want = self.waiting > 0 and self.holders == 0
        if want and self._flag is None and not self._broken:
            fd = self._open_flag_file(create=True)
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)  # blocks only for another process's momentary probe
                self._flag = fd
        elif not want and self._flag is not None:
            fcntl.flock(self._flag, fcntl.LOCK_UN)
            os.close(self._flag)
            self._flag = None

    def _change(self, holders: int = 0, waiting: int = 0) -> None:
        with self.mutex:
            self.holders += holders
            self.waiting += waiting
            if holders:
                self.local.depth = self.depth() + holders
            self._update_flag()

    def begin_wait(self) -> None:
        self._change(waiting=1)

    def end_wait(self) -> None:
        self._change(waiting=-1)

    def opened(self) -> None:
        self._change(holders=1)

    def closed(self) -> None:
        self._change(holders=-1)


_TURNS: dict[str, _Turns] = {}
_TURNS_LOCK = threading.Lock()


def _turns(path: Path) -> _Turns:
    key = str(path.absolute())
    with _TURNS_LOCK:
        if key not in _TURNS:
            _TURNS[key] = _Turns(Path(key))
        return _TURNS[key]


_HOLDER_RE = re.compile(r"held in (.+?) \(PID (\d+)\)")


# ---------------------------------------------------------------- the store


class Store:
    """A DuckDB file, opened per unit of work."""

    def __init__(self, path: Path | str | None = None, lock_timeout: float | None = None):
        self.path = Path(path) if path is not None else db_path()
        self.lock_timeout = lock_timeout if lock_timeout is not None else \
            float(os.environ.get("FLASHDASH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))
        self._version_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connections

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def _open(self, create: bool, kind: str = "read") -> duckdb.DuckDBPyConnection:
        """A connection for one unit of work, closed with `_close`. Takes its turn with other processes
        (_Turns): steps aside while another process waits for the store, then retries a lock held by another
        process with jittered backoff; after `lock_timeout` seconds in all, raises StoreLocked."""
        if not create and not self.exists():
            raise StoreMissing(
                f"There is no store at {self.path}. Create one with `make run` (demo data) or "
                f"`python -m flashdash init --db {self.path}`, or point FLASHDASH_DB at an existing store."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        turns = _turns(self.path)
        started = time.monotonic()
        deadline = started + self.lock_timeout
        waited = turns.step_aside(started + min(DEFER_MAX, self.lock_timeout / 2))
        delay, attempts, counted = POLL_MIN, 0, False
        held: duckdb.IOException | None = None  # the last "file is locked" error this opening met
        try:
            while True:
                with turns.attempt:
                    # While this process holds the store, opening is immediate (one DuckDB instance per
                    # process and file); while it waits, an attempt is due every POLL_MIN among its threads.
                    if turns.holders > 0 or time.monotonic() - turns.last_failure >= POLL_MIN:
                        attempts += 1
                        try:
                            con = duckdb.connect(str(self.path))
                        except duckdb.IOException as exc:
                            if "lock" not in str(exc).lower():
                                raise StoreCorrupt(
                                    f"The store at {self.path} cannot be opened: {exc}. Restore it from a backup "
                                    "(`python -m flashdash restore DIR`) or move it aside and create a new one."
                                ) from exc
                            turns.last_failure = time.monotonic()
                            held = exc
                        except duckdb.Error as exc:
                            raise StoreCorrupt(f"The store at {self.path} cannot be opened: {exc}.") from exc
                        else:
                            turns.opened()
                            waited = waited or attempts > 1
                            LOCK_WAITS.append(LockWait(kind, time.monotonic() - started if waited else 0.0,
                                                       attempts))
                            return con
                if time.monotonic() >= deadline:
                    holder = _HOLDER_RE.search(str(held or ""))
                    raise StoreLocked(
                        f"The store at {self.path} is busy: another process has held it for over "
                        f"{self.lock_timeout:.0f} s"
                        + (f" (pid {holder.group(2)}, {Path(holder.group(1)).name})" if holder else "")
                        + ". Try again in a moment; if it persists, stop the other process."
                    ) from held
                waited = True
                if not counted and time.monotonic() - started >= PATIENCE:
                    turns.begin_wait()
                    counted = True
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, POLL_MAX)
        finally:
            if counted:
                turns.end_wait()

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        # Closing the process's last connection shuts its DuckDB instance down (a checkpoint, then the file
        # lock goes). A connect racing with that shutdown can miss the cached instance and open a second one
        # on the same file, which the file lock does not stop within one process (POSIX locks are per
        # process): two instances then write one file and commits are lost (duckdb/duckdb#22277 is the same
        # race in the instance cache). So no connect runs while a connection closes.
        turns = _turns(self.path)
        try:
            with turns.attempt:
                con.close()
        finally:
            turns.closed()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only unit of work."""
        con = self._open(create=False)
        try:
            yield con
        finally:
            self._close(con)

    @contextmanager
    def write(self, create: bool = False, bump: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write unit of work: one transaction, committed whole or not at all; bumps the data version, unless
        `bump` is false: a write of bookkeeping no cached page shows (a job run's record), so that a job that
        runs every minute does not empty every cache every minute."""
        with _turns(self.path).writer:
            con = self._open(create=create, kind="write")
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                if bump:
                    self._bump_version()
            finally:
                self._close(con)

    @staticmethod
    @contextmanager
    def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB for work on files outside the store (reading an import's CSV)."""
        con = duckdb.connect(":memory:")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A SQLModel session over one write unit of work (shares the store's connection)."""
        with self.write() as con:
            engine = _joined_engine(con)
            with Session(engine) as s:
                yield s
                s.flush()

    # -- queries

    def frame(self, name: str, con: duckdb.DuckDBPyConnection | None = None, **params: Any) -> pl.DataFrame:
        """Run a named query and return its rows as a polars frame, sealed contact values opened (flashdash.pii)."""
        if con is None:
            with self.read() as c:
                return self.frame(name, c, **params)
        t0 = time.perf_counter()
        out = crypto.open_frame(self._frame(name, con, params), lambda: self.keyring)
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))
        return out

    def sealed_frame(self, name: str, con: duckdb.DuckDBPyConnection, **params: Any) -> pl.DataFrame:
        """`frame` with sealed values left as stored: for code that writes what it read back to the store."""
        t0 = time.perf_counter()
        out = self._frame(name, con, params)
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))
        return out

    def _frame(self, name: str, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> pl.DataFrame:
        text = sql(name)
        if "fd_" in text:
            pii.register(con)
        result = con.sql(text, params=bind(name, params))
        return result.pl() if result is not None else pl.DataFrame()

    @property
    def keyring(self) -> crypto.Keyring:
        """The keys this store's contact values are sealed with (flashdash.crypto.load)."""
        return crypto.for_store(self.path)

    def scalar(self, name: str, con: duckdb.DuckDBPyConnection | None = None, **params: Any) -> Any:
        if con is None:
            with self.read() as c:
                return self.scalar(name, c, **params)
        t0 = time.perf_counter()
        text = sql(name)
        if "fd_" in text:
            pii.register(con)
        rows = con.execute(text, bind(name, params)).fetchall()  # finish the result before the next statement
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))
        value = rows[0][0] if rows else None
        return crypto.open_text(self.keyring, value) if crypto.is_sealed(value) else value

    def run(self, name: str, con: duckdb.DuckDBPyConnection, **params: Any) -> None:
        t0 = time.perf_counter()
        text = sql(name)
        if "fd_" in text:
            pii.register(con)
        con.execute(text, bind(name, params)).fetchall()
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))

    # -- data version

    @property
    def version_path(self) -> Path:
        return self.path.with_name(self.path.name + ".version")

    def version(self) -> str:
        """Changes after every committed write; the UI keys its caches on it."""
        try:
            return self.version_path.read_text().strip() or "0"
        except FileNotFoundError:
            return "0"

    def _bump_version(self) -> None:
        with self._version_lock:
            tmp = self.version_path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(str(time.time_ns()))
            tmp.replace(self.version_path)

    # -- schema

    def ensure_schema(self, now: datetime | None = None) -> list[int]:
        """Create the store if needed and apply pending migrations; returns the versions applied."""
        from flashdash import migrations

        with self.write(create=True) as con:
            return migrations.apply(con, now or datetime.now())

    def advance_sequence(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """Move `<table>_id_seq` past the largest id, after a bulk insert of explicit ids."""
        if table not in SQLModel.metadata.tables:
            raise ValueError(f"unknown table {table!r}")
        seq = f"{table}_id_seq"  # identifiers cannot be bound as parameters; table is checked above
        ((max_id,),) = con.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchall()  # noqa: S608
        ((cur,),) = con.execute(
            "SELECT coalesce(last_value, start_value - 1) FROM duckdb_sequences() WHERE sequence_name = ?", [seq]
        ).fetchall()
        if max_id > cur:
            con.execute(f"SELECT nextval('{seq}') FROM range(?)", [max_id - cur]).fetchall()  # noqa: S608


def copy_file(source: Path | str, target: Path | str) -> Path:
    """Copy a closed store's file and the keyring generated beside it (its contact values open only with those
    keys); returns the target."""
    source, target = Path(source), Path(target)
    shutil.copyfile(source, target)
    keys = crypto.keyring_path(source)
    if keys.exists():
        shutil.copy2(keys, crypto.keyring_path(target))
    return target


def macros_digest() -> str:
    return hashlib.sha256((SQL_DIR / "macros.sql").read_bytes()).hexdigest()[:16]


def create_tables(con: duckdb.DuckDBPyConnection, tables: list[str] | None = None) -> None:
    """Create SQLModel tables (all, or the named ones) on this connection."""
    meta = SQLModel.metadata
    selected = [meta.tables[t] for t in tables] if tables else None
    meta.create_all(_joined_engine(con), tables=selected)


class _JoinedConnection(ConnectionWrapper):
    """Lets SQLAlchemy work inside a unit of work that owns the transaction and the connection."""

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def _joined_engine(con: duckdb.DuckDBPyConnection):
    # Built over the store's own connection: a second duckdb.connect to the same file in this
    # process would need identical config, and would escape the unit of work's transaction.
    return create_engine("duckdb:///:memory:", creator=lambda: _JoinedConnection(con), poolclass=StaticPool)
