"""The store as the UI sees it: one Store per server, store errors shown as messages, cached reads."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from flashdash.filters import FilterError
from flashdash.store import Store, StoreError, StoreLocked, StoreMissing, db_path

T = TypeVar("T")


@st.cache_resource
def _store(path: str) -> Store:
    return Store(path)


def current_store() -> Store:
    return _store(str(db_path()))


def show_store_error(exc: StoreError) -> None:
    if isinstance(exc, StoreLocked):
        st.warning(str(exc), icon=":material/hourglass_top:")
    elif isinstance(exc, StoreMissing):
        st.info(str(exc), icon=":material/database:")
    else:
        st.error(str(exc), icon=":material/error:")


def show_problem(exc: Exception) -> None:
    """A refused action in the page: a store problem as store_errors shows it, anything else (a validation
    message, an access refusal) as an error naming what to change."""
    if isinstance(exc, StoreError):
        show_store_error(exc)
    else:
        st.error(str(exc), icon=":material/block:")


@contextmanager
def store_errors_stop() -> Iterator[None]:
    """Turn a store problem into a message in the page, then stop the run (never a traceback)."""
    try:
        yield
    except StoreError as exc:
        show_store_error(exc)
        st.stop()


@contextmanager
def page_errors() -> Iterator[None]:
    """Around a page body: store and filter problems become messages, not tracebacks."""
    try:
        yield
    except StoreError as exc:
        show_store_error(exc)
    except FilterError as exc:
        st.error(str(exc), icon=":material/event_busy:")


@st.cache_data(ttl=3600, max_entries=512, show_spinner=False)
def _cached(fn_ref: str, path: str, version: str, args: tuple, kwargs: tuple) -> Any:
    module, name = fn_ref.split(":")
    fn = getattr(importlib.import_module(module), name)
    return fn(Store(path), *args, **dict(kwargs))


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a domain read `fn(store, *args, **kwargs)`, cached until the next write bumps the data version.

    Arguments must be hashable by Streamlit (frozen dataclasses, tuples, dates): the Actor and
    Filters are part of the key, so one user's rows never serve another's request.
    """
    store = current_store()
    return _cached(f"{fn.__module__}:{fn.__qualname__}", str(store.path), store.version(), args,
                   tuple(sorted(kwargs.items())))
