#!/usr/bin/env bash
# `make run`: demo data if the store is empty, then the scheduler, the email tracking service and the
# Streamlit server together. Ctrl-C (or SIGTERM to this script) stops them all; so does the server ending
# the run. FLASHDASH_DB points at another store, PORT at another port, TRACKING_PORT at another port for the
# tracking service (FLASHDASH_TRACKING_URL: its address as written into emails, when not this machine's).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT="${PORT:-8501}"
TRACKING_PORT="${TRACKING_PORT:-8502}"
# The scheduler writes this address into every email's pixel and links; it must reach the service below.
export FLASHDASH_TRACKING_URL="${FLASHDASH_TRACKING_URL:-http://localhost:${TRACKING_PORT}}"

"$PY" -m flashdash bootstrap

SCHED_PID=""
TRACK_PID=""
SERVER_PID=""
stop() {
    trap - INT TERM EXIT
    # SIGTERM: the scheduler finishes a running job, records it and releases its lock; the tracking service
    # finishes the requests it has (uvicorn's graceful shutdown).
    for pid in $SERVER_PID $TRACK_PID $SCHED_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $SERVER_PID $TRACK_PID $SCHED_PID; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$PY" -m jobs &
SCHED_PID=$!

# It never opens the store (it spools events beside it for the scheduler to ingest): no third writer.
"$PY" -m flashdash.tracking --port "$TRACKING_PORT" &
TRACK_PID=$!

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
echo "  Email tracking: ${FLASHDASH_TRACKING_URL} (opens, clicks, replies)"
echo "  Store: ${FLASHDASH_DB:-data/flashdash.duckdb}. Ctrl-C stops the server, the scheduler and the tracking service."
echo

# In the background so that the traps run at once (bash defers them while a foreground child runs).
"$PY" -m streamlit run app.py --server.port "$PORT" --server.headless true &
SERVER_PID=$!
wait "$SERVER_PID"
