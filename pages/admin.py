"""Admin: users and roles, the store, scheduled jobs, the audit trail, privacy requests, imports, export and
backup."""

import streamlit as st

from flashdash import admin
from flashdash.ui import audit_panel, backup_panel, import_panel, jobs_panel, privacy_panel, users_panel
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.store import cached, page_errors

actor = guard("admin")
with page_errors():
    st.title("Admin")
    data = cached(admin.overview, actor)
    c1, c2, c3 = st.columns(3)
    c1.metric("Users", f"{data['users'].height:,}", border=True)
    c2.metric("Store size", f"{data['size_mb']:,.1f} MB", border=True, help=data["path"])
    c3.metric("Schema version", data["schema_version"], border=True)
    users, store_tab, jobs, audit, privacy_tab, import_tab, export_tab = st.tabs(
        ["Users", "Store", "Jobs", "Audit trail", "Privacy", "Import", "Export & backup"])
    with users:
        users_panel.render(actor)
    with store_tab:
        st.caption(f"{data['path']} · data version {data['data_version']}")
        ui.table(data["tables"], "store_tables", key="admin.tables")
    with jobs:
        jobs_panel.render(actor)
    with audit:
        audit_panel.render(actor)
    with privacy_tab:
        privacy_panel.render(actor)
    with import_tab:
        import_panel.render(actor)
    with export_tab:
        backup_panel.export_and_backup(actor)
