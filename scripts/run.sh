#!/usr/bin/env bash
# `make run`: demo data if the store is empty, then the scheduler and the Streamlit server together.
# Ctrl-C (or SIGTERM to this script) stops both; so does either ending the run. FLASHDASH_DB points at
# another store, PORT at another port.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT="${PORT:-8501}"

"$PY" -m flashdash bootstrap

SCHED_PID=""
SERVER_PID=""
stop() {
    trap - INT TERM EXIT
    # SIGTERM: the scheduler finishes a running job, records it and releases its lock.
    for pid in $SERVER_PID $SCHED_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $SERVER_PID $SCHED_PID; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$PY" -m jobs &
SCHED_PID=$!

echo
echo "  Flash Sales Dashboard: http://localhost:${PORT}"
"$PY" - <<'PY'
from flashdash.store import Store
from flashdash.users import DEMO_USERS

try:
    demo = Store().scalar("setting", key="demo_mode") == "true"
except Exception:
    demo = False
if demo:
    print("  Demo logins (username / password):")
    for username, (_, password) in DEMO_USERS.items():
        print(f"    {username:<10} {password}")
PY
echo "  Store: ${FLASHDASH_DB:-data/flashdash.duckdb}. Ctrl-C stops the server and the scheduler."
echo

# In the background so that the traps run at once (bash defers them while a foreground child runs).
"$PY" -m streamlit run app.py --server.port "$PORT" --server.headless true &
SERVER_PID=$!
wait "$SERVER_PID"
