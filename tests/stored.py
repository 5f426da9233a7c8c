"""The store read in a test as the product shows it: sealed contact values opened (the product opens them in
Store.frame), with the product's SQL functions (fd_open, ...) available to the query."""

from __future__ import annotations

from typing import Any

import polars as pl

from flashdash import crypto, pii
from flashdash.store import Store


def rows(store: Store, query: str, params: list | dict | None = None, write: bool = False) -> list[tuple]:
    """The query's rows with every sealed value in them opened."""
    with (store.write() if write else store.read()) as con:
        pii.register(con)
        found = con.execute(query, params or None).fetchall()
    return [tuple(_opened(store, v) for v in row) for row in found]


def _opened(store: Store, value: Any) -> Any:
    return crypto.open_text(store.keyring, value) if isinstance(value, str) and crypto.PREFIX in value else value


def insert(con: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows written straight into a table (a test's hand-made history), by column name."""
    con.register("_rows", pl.DataFrame(rows).to_arrow())
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")  # noqa: S608 (a test's own table names)
    finally:
        con.unregister("_rows")
