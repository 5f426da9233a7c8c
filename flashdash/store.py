"""The only module that opens DuckDB: units of work, named SQL, retry on lock, data version.

DuckDB lets one process hold a file read-write and then refuses every other process, so no
process holds the store while idle: a unit of work opens a connection, runs, commits and closes.
A lock held by another process is retried with jittered backoff for `lock_timeout` seconds and
then surfaces as `StoreLocked`, whose message says what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
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

from flashdash import entities  # noqa: F401  (registers the tables on SQLModel.metadata)

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
    """One opening of the store: how long it waited for another process's hold (0 when it did not)."""

    kind: str  # read | write
    seconds: float
    attempts: int


# Every opening in this process, newest last: the coexistence benchmark reads the waits from it.
LOCK_WAITS: deque[LockWait] = deque(maxlen=100_000)


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
        if not create and not self.exists():
            raise StoreMissing(
                f"There is no store at {self.path}. Create one with `make run` (demo data) or "
                f"`python -m flashdash init --db {self.path}`, or point FLASHDASH_DB at an existing store."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        deadline = started + self.lock_timeout
        delay = 0.01
        attempts = 0
        while True:
            attempts += 1
            try:
                con = duckdb.connect(str(self.path))
                LOCK_WAITS.append(LockWait(kind, time.monotonic() - started if attempts > 1 else 0.0, attempts))
                return con
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise StoreCorrupt(
                        f"The store at {self.path} cannot be opened: {text}. Restore it from a "
                        "backup (`python -m flashdash restore DIR`) or move it aside and create a new one."
                    ) from exc
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"The store at {self.path} is busy: another process has held it for over "
                        f"{self.lock_timeout:.0f} s ({text.split(':')[-1].strip()}). Try again in a "
                        "moment; if it persists, stop the other process."
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise StoreCorrupt(f"The store at {self.path} cannot be opened: {exc}.") from exc

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only unit of work."""
        con = self._open(create=False)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write unit of work: one transaction, committed whole or not at all; bumps the data version."""
        con = self._open(create=create, kind="write")
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._bump_version()
        finally:
            con.close()

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
        """Run a named query and return its rows as a polars frame."""
        if con is None:
            with self.read() as c:
                return self.frame(name, c, **params)
        text = sql(name)
        t0 = time.perf_counter()
        result = con.sql(text, params=bind(name, params))
        out = result.pl() if result is not None else pl.DataFrame()
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))
        return out

    def scalar(self, name: str, con: duckdb.DuckDBPyConnection | None = None, **params: Any) -> Any:
        if con is None:
            with self.read() as c:
                return self.scalar(name, c, **params)
        t0 = time.perf_counter()
        rows = con.execute(sql(name), bind(name, params)).fetchall()  # finish the result before the next statement
        QUERY_LOG.append(QueryTiming(name, time.perf_counter() - t0))
        return rows[0][0] if rows else None

    def run(self, name: str, con: duckdb.DuckDBPyConnection, **params: Any) -> None:
        t0 = time.perf_counter()
        con.execute(sql(name), bind(name, params)).fetchall()
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
