"""Named points where a test can stop a process at the worst moment, to prove that nothing half-done lands.

`FLASHDASH_FAULT=<point>=crash` ends the process at that point (exit 137, as a SIGKILL would: no cleanup,
no rollback, no atexit); `FLASHDASH_FAULT=<point>=pause` writes the process id to `FLASHDASH_FAULT_FILE`
and waits there until something kills it. Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

FAULT_ENV = "FLASHDASH_FAULT"
FAULT_FILE_ENV = "FLASHDASH_FAULT_FILE"


def point(name: str) -> None:
    setting = os.environ.get(FAULT_ENV)
    if not setting:
        return
    where, _, what = setting.partition("=")
    if where != name:
        return
    if what == "crash":
        os._exit(137)
    if what == "pause":
        marker = os.environ.get(FAULT_FILE_ENV)
        if marker:
            Path(marker).write_text(str(os.getpid()))
        while True:
            time.sleep(3600)
    raise ValueError(f"{FAULT_ENV}={setting!r}: say '{name}=crash' or '{name}=pause'.")
