"""The demo stores the benchmarks run on: built once at a scale (seed 42) and reused while they exist."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from flashdash import demo, predictive, users
from flashdash.store import Store


def build(path: Path, scale: str, now: datetime, logins: bool = False, train: bool = False) -> Store:
    """A demo store at `path`: reused when it has leads, else generated as of `now` (with the demo logins
    and a trained model when asked)."""
    s = Store(path)
    if s.exists() and s.scalar("count_leads"):
        print(f"Reusing {path}")
        return s
    t0 = time.perf_counter()
    demo.generate(s, scale=scale, seed=42, now=now)
    if logins:
        users.create_demo_users(s, now)
    print(f"Generated scale {scale} in {time.perf_counter() - t0:.1f} s")
    if train:
        t0 = time.perf_counter()
        predictive.train(s, now)
        print(f"Trained the conversion model in {time.perf_counter() - t0:.1f} s")
    return s
