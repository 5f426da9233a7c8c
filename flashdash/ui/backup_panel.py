"""The Admin page's "Export & backup" tab: whole entities as files, backups on demand, the backups kept."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import streamlit as st

from flashdash import backup, clock, exports
from flashdash.access import Actor
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import current_store, show_problem

# Files handed to the browser are held in the server's memory for the session: larger ones stay on disk.
MAX_BROWSER_MB = 250
_EXPORT_STATE = "admin.export.file"


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{max(n / 1e3, 0.1):,.1f} kB"


def _forget_export() -> None:
    previous = st.session_state.pop(_EXPORT_STATE, None)
    if previous:
        shutil.rmtree(Path(previous["path"]).parent, ignore_errors=True)


def _export(actor: Actor) -> None:
    st.subheader("Export")
    st.caption("Every row of one entity, as a file. Users are exported without their password hashes. "
               "From the command line: `python -m flashdash export ENTITY FILE`.")
    c1, c2 = st.columns([2, 3])
    entity = c1.selectbox("Entity", sorted(exports.ENTITIES), key="admin.export.entity")
    fmt = c2.segmented_control("Format", list(exports.FORMAT_LABELS), format_func=exports.FORMAT_LABELS.get,
                               default="csv", required=True, key="admin.export.format")
    if st.button("Export", key="admin.export.run", icon=":material/file_export:"):
        _forget_export()
        now = clock.now()
        folder = Path(tempfile.mkdtemp(prefix="flashdash-export-"))
        path = folder / f"{entity}-{now:%Y%m%d-%H%M%S}.{fmt}"
        try:
            with st.spinner(f"Exporting {entity}…"):
                rows = exports.export_entity(current_store(), actor, entity, path, fmt, now)
        except (ValueError, StoreError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            show_problem(exc)
        else:
            st.session_state[_EXPORT_STATE] = {"path": str(path), "rows": rows, "fmt": fmt, "entity": entity}
    done = st.session_state.get(_EXPORT_STATE)
    if done and Path(done["path"]).exists():
        path = Path(done["path"])
        size = path.stat().st_size
        if size > MAX_BROWSER_MB * 1e6:
            st.warning(f"{path.name} ({done['rows']:,} rows, {_size(size)}) is too large to send through the "
                       f"browser. It is on the server at {path}; or write it where you need it with "
                       f"`python -m flashdash export {done['entity']} FILE`.", icon=":material/warning:")
        else:
            st.download_button(f"Download {path.name} ({done['rows']:,} rows, {_size(size)})", path.read_bytes,
                               file_name=path.name, mime=exports.MIME_TYPES[done["fmt"]],
                               key="admin.export.download", icon=":material/download:", type="primary",
                               on_click="ignore")


def _backup(actor: Actor) -> None:
    store = current_store()
    root = backup.backup_root(store)
    st.subheader("Backup")
    st.caption(f"Backups go to {root} (FLASHDASH_BACKUP_DIR), one folder each: every table as Parquet and a "
               "manifest with row counts and checksums. Trained models are not included; "
               "`python -m flashdash train` rebuilds them.")
    if st.button("Back up now", key="admin.backup.run", icon=":material/backup:"):
        now = clock.now()
        try:
            with st.spinner("Backing up the store…"):
                result = backup.backup(store, root / f"{now:%Y%m%d-%H%M%S}", now, actor)
        except StoreError as exc:
            show_problem(exc)
        else:
            st.success(f"Backed up {result.rows:,} rows in {len(result.tables)} tables to {result.directory} "
                       f"({_size(result.bytes)}).", icon=":material/check_circle:")
    kept = backup.list_backups(root)
    if kept.is_empty():
        st.info("There are no backups here yet.", icon=":material/inventory_2:")
    else:
        ui.table(kept, "backups", key="admin.backups")
    st.info("Restoring is done from the command line only, because it swaps the store under every running "
            "session: `python -m flashdash restore DIR`. It checks the backup's checksums and row counts first, "
            "keeps the replaced store beside it (`<name>.before-restore-<time>.duckdb`), and open pages show "
            "the restored data on their next rerun.", icon=":material/settings_backup_restore:")


def export_and_backup(actor: Actor) -> None:
    """The tab's body."""
    _export(actor)
    st.divider()
    _backup(actor)
