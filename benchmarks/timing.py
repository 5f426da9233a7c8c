"""Timing helpers the benchmarks share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from streamlit.components.v2 import component_manager


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def spread(values: list[float]) -> str:
    """'p50 … ms, p95 … ms, max … ms (n …)' of timings in seconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"p50 {statistics.median(ordered) * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, "
            f"max {ordered[-1] * 1e3:.0f} ms (n {len(ordered)})")


# AppTest scans every installed package for components on each run; a server does that once at startup. The scan
# is timed here (the manager's method wrapped once, on import) so that a render's cost can be given without it.
DISCOVERY = {"seconds": 0.0}
_discover = component_manager.BidiComponentManager.discover_and_register_components


def _timed_discover(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
    t0 = time.perf_counter()
    try:
        return _discover(self, *args, **kwargs)
    finally:
        DISCOVERY["seconds"] += time.perf_counter() - t0


component_manager.BidiComponentManager.discover_and_register_components = _timed_discover
