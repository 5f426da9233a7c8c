"""The current time, injectable: FLASHDASH_NOW (ISO) pins it for tests and demos."""

from __future__ import annotations

import os
from datetime import datetime


def now() -> datetime:
    pinned = os.environ.get("FLASHDASH_NOW")
    return datetime.fromisoformat(pinned) if pinned else datetime.now().replace(microsecond=0)
