"""The Admin page's "Import" tab: upload, map, preview, import with progress; presets; history and undo."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
import yaml

from flashdash import clock, imports, mapping
from flashdash.access import Actor
from flashdash.mapping import Mapping, MappingError, Source
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import current_store, show_store_error

UPLOAD_TYPES = ["csv", "txt", "tsv", "xlsx", "xlsm", "parquet"]
NONE = "(not imported)"
PREVIEW_ROWS = 500
_RESULT = "imp.result"


def _upload_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "flashdash-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _saved(uploaded: Any) -> Path:
    """The uploaded file on disk (imports stream from a file), named by its content."""
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = _upload_dir() / f"{digest}{Path(uploaded.name).suffix.lower()}"
    if not path.exists():
        path.write_bytes(data)
    return path


def _show_error(exc: Exception) -> None:
    if isinstance(exc, StoreError):
        show_store_error(exc)
    else:
        st.error(str(exc), icon=":material/block:")


@st.cache_data(max_entries=8, show_spinner=False)
def _sample(path: str, name: str) -> tuple[list[str], pl.DataFrame]:
    info = imports.inspect(path, name)
    sample = imports.Reader(info).sample()
    return list(info.columns), sample


def _start_mapping(entity: str, sample: pl.DataFrame, given: Any) -> Mapping:
    if given is not None:
        try:
            loaded = mapping.from_dict(yaml.safe_load(given.getvalue().decode("utf-8")))
        except (MappingError, yaml.YAMLError, UnicodeDecodeError) as exc:
            st.error(f"The mapping file cannot be used: {exc}", icon=":material/block:")
        else:
            if loaded.entity == entity:
                return loaded
            st.warning(f"The mapping file is for {loaded.entity}; choose that entity to use it.")
    return mapping.suggest(entity, sample)


def _mapping_editor(entity: str, columns: list[str], sample: pl.DataFrame, start: Mapping, key: str) -> Mapping:
    """One selector per field, set from the suggestion; constants and templates of a loaded mapping are kept."""
    spec = mapping.entity_spec(entity)
    st.markdown("**Map the file's columns** (suggested from their names and content; * = required for a new record)")
    fields: dict[str, Source] = {}
    cols = st.columns(3)
    for i, f in enumerate(spec.fields):
        current = start.fields.get(f.name)
        options = [NONE, *columns]
        if current is not None and not isinstance(current.column, str):
            label = (f"= {current.value}" if current.value is not None else
                     f"template {current.template}" if current.template else f"first of {current.column}")
            options.append(label)
            default = label
        else:
            default = current.column if current is not None and current.column in columns else NONE
        choice = cols[i % 3].selectbox(
            f"{f.title}{' *' if f.required else ''}", options, index=options.index(default),
            key=f"{key}.{entity}.{f.name}", help=f"{f.kind}" + (f": {', '.join(f.vocab)}" if f.vocab else ""))
        if choice == NONE:
            continue
        if choice in columns:
            keep = current if current is not None and current.column == choice else Source(column=choice)
            fields[f.name] = keep
        elif current is not None:
            fields[f.name] = current
    return Mapping(**{**start.__dict__, "entity": entity, "fields": fields})


def _options(base: Mapping, key: str) -> Mapping:
    c1, c2, c3, c4 = st.columns(4)
    on_dup = c1.radio("A row whose record exists", ["merge", "skip"], index=["merge", "skip"].index(base.on_duplicate),
                      key=f"{key}.dup", horizontal=True,
                      help="merge: the row's values update the record; skip: the record is left as it is")
    create = c2.checkbox("Create missing reps, teams, regions", value=base.create_missing, key=f"{key}.create")
    near = c3.checkbox("Accept near matches", value=base.accept_near_matches, key=f"{key}.near",
                       help="read a name that almost matches a known one (Jon Smyth / John Smith) as that one")
    dayfirst = c4.selectbox("Dates like 03/04/2024", ["decide from the data", "day first", "month first"],
                            index=0 if base.dayfirst is None else (1 if base.dayfirst else 2), key=f"{key}.dayfirst")
    return mapping.with_options(base, on_duplicate=on_dup, create_missing=create, accept_near_matches=near,
                                dayfirst=None if dayfirst.startswith("decide") else dayfirst == "day first")


def _show_result(result: imports.ImportResult, key: str) -> None:
    verb = "Preview" if result.dry_run else f"Import #{result.import_id}"
    st.markdown(f"**{verb}: {result.file_name} → {result.entity}**")
    c = st.columns(5)
    c[0].metric("Rows read", f"{result.rows_read:,}", border=True)
    c[1].metric("New", f"{result.imported:,}", border=True)
    c[2].metric("Updated", f"{result.updated:,}", border=True)
    c[3].metric("Skipped", f"{result.skipped:,}", border=True)
    c[4].metric("Quarantined", f"{result.quarantined:,}", border=True)
    if result.created:
        st.caption("Also created: " + ", ".join(f"{n:,} {t}" for t, n in result.created.items()))
    for note in result.notes:
        st.warning(note, icon=":material/info:")
    if result.flagged:
        st.warning(f"{result.flagged:,} rows name something that almost matches a known value; see the flags below.",
                   icon=":material/flag:")
    if result.dry_run:
        st.caption("Nothing was written. Import to apply exactly this.")
    outcomes = result.outcomes.head(PREVIEW_ROWS)
    st.dataframe(outcomes, key=f"{key}.outcomes", width="stretch", hide_index=True)
    if result.outcomes.height > PREVIEW_ROWS:
        st.caption(f"First {PREVIEW_ROWS:,} of {result.outcomes.height:,} rows.")
    if result.quarantined:
        st.download_button(f"Download the {result.quarantined:,} quarantined rows (CSV, with reasons)",
                           imports.quarantine_table(result.quarantine).write_csv().encode(),
                           file_name=f"{Path(result.file_name).stem}-quarantine.csv", mime="text/csv",
                           key=f"{key}.quarantine", icon=":material/download:")


def _file_import(actor: Actor) -> None:
    st.subheader("Import a file")
    st.caption("CSV, Excel or Parquet. Every row is checked; rows that cannot be taken are kept aside with their "
               "reason. An import is all or nothing, recorded, and can be undone below.")
    c1, c2 = st.columns([3, 2])
    uploaded = c1.file_uploader("File", type=UPLOAD_TYPES, key="imp.file")
    entity = c2.selectbox("It holds", list(mapping.ENTITIES), key="imp.entity",
                          format_func=lambda e: mapping.ENTITIES[e].label)
    given = c2.file_uploader("Mapping file (optional)", type=["yaml", "yml"], key="imp.mapping_file")
    if uploaded is None:
        st.info("Choose a file to import. The mapping is suggested from its columns; you can change it, preview "
                "the result row by row, then import.", icon=":material/upload_file:")
        return
    try:
        path = _saved(uploaded)
        columns, sample = _sample(str(path), uploaded.name)
    except (imports.ImportProblem, MappingError) as exc:
        _show_error(exc)
        return
    st.caption(f"{uploaded.name}: {len(columns)} columns. First rows:")
    st.dataframe(sample.drop("_row", strict=False).head(5), key="imp.sample", hide_index=True, width="stretch")
    start = _start_mapping(entity, sample, given)
    chosen = _options(_mapping_editor(entity, columns, sample, start, "imp.map"), "imp.opt")
    b1, b2, b3 = st.columns([1, 1, 3])
    preview = b1.button("Preview", key="imp.preview", icon=":material/preview:")
    run = b2.button("Import", key="imp.run", type="primary", icon=":material/upload:")
    b3.download_button("Save this mapping (YAML)", ("# Flash Sales Dashboard import mapping\n" + chosen.to_yaml()).encode(),
                       file_name=f"{Path(uploaded.name).stem}-{entity}-mapping.yaml", mime="application/yaml",
                       key="imp.save_mapping", icon=":material/save:")
    if preview or run:
        bar = st.progress(0.0, text="Reading the file")
        try:
            if not chosen.fields:
                raise MappingError("Map at least one column.")
            result = imports.import_file(current_store(), actor, path, chosen, clock.now(), name=uploaded.name,
                                         dry_run=preview, progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
        except (imports.ImportProblem, MappingError, StoreError) as exc:
            bar.empty()
            _show_error(exc)
            return
        bar.empty()
        st.session_state[_RESULT] = [result]
    _results("imp.file_result")


def _results(key: str) -> None:
    for i, result in enumerate(st.session_state.get(_RESULT) or []):
        _show_result(result, f"{key}.{i}")


def _preset_import(actor: Actor) -> None:
    st.subheader("Import a preset")
    found = mapping.presets()
    name = st.selectbox("Exports from", list(found), key="imp.preset", format_func=lambda n: found[n].title)
    preset = found[name]
    st.caption(preset.description)
    st.caption("Expects: " + "; ".join(f"`{s.file}` → {s.mapping.entity}{' (optional)' if s.optional else ''}"
                                      for s in preset.steps))
    files = st.file_uploader("Export files", type=UPLOAD_TYPES, accept_multiple_files=True, key="imp.preset_files")
    b1, b2 = st.columns([1, 4])
    preview = b1.button("Preview", key="imp.preset_preview", icon=":material/preview:", disabled=not files)
    run = b2.button("Import", key="imp.preset_run", type="primary", icon=":material/upload:", disabled=not files)
    if (preview or run) and files:
        folder = Path(tempfile.mkdtemp(prefix="flashdash-preset-"))
        for f in files:
            (folder / Path(f.name).name).write_bytes(f.getvalue())
        bar = st.progress(0.0, text="Reading the files")
        try:
            results = imports.import_preset(current_store(), actor, preset, folder, clock.now(), dry_run=preview,
                                            progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
        except (imports.ImportProblem, MappingError, StoreError) as exc:
            bar.empty()
            _show_error(exc)
            return
        bar.empty()
        st.session_state[_RESULT] = results
        _results("imp.preset_result")


def _history(actor: Actor) -> None:
    st.subheader("Imports")
    store = current_store()
    frame = imports.history(store, actor)
    if frame.is_empty():
        st.info("No imports yet.", icon=":material/history:")
        return
    ui.table(frame, "imports", key="imp.history")
    labels = {int(r["id"]): f"#{r['id']} · {r['file_name']} → {r['entity']} · {r['status']}"
              for r in frame.iter_rows(named=True)}
    import_id = st.selectbox("Import to inspect", list(labels), format_func=labels.get, index=None, key="imp.chosen",
                             placeholder="Choose an import to see its quarantined rows or to undo it")
    if import_id is None:
        return
    row = frame.filter(pl.col("id") == import_id).row(0, named=True)
    quarantined = imports.quarantine(store, actor, import_id)
    st.markdown(f"**Import #{import_id}**: {row['file_name']} → {row['entity']}, {row['status']}")
    if quarantined.height:
        st.dataframe(quarantined.head(PREVIEW_ROWS), key="imp.q_table", hide_index=True, width="stretch")
        st.download_button(f"Download the {quarantined.height:,} quarantined rows (CSV)", quarantined.write_csv().encode(),
                           file_name=f"import-{import_id}-quarantine.csv", mime="text/csv", key="imp.q_download",
                           icon=":material/download:")
    else:
        st.caption("No row of this import was quarantined.")
    if row["status"] != "undone":
        sure = st.checkbox(f"Yes, take back import #{import_id}", key="imp.undo_sure")
        if st.button("Undo this import", key="imp.undo", disabled=not sure, icon=":material/undo:"):
            try:
                counts = imports.undo(store, actor, import_id, clock.now())
            except (imports.ImportProblem, StoreError) as exc:
                _show_error(exc)
            else:
                st.success(f"Undid import #{import_id}: " + (", ".join(f"{n:,} {t} rows" for t, n in counts.items())
                                                             or "it had changed nothing") + ".")


def render(actor: Actor) -> None:
    """The whole Import tab."""
    _file_import(actor)
    st.divider()
    _preset_import(actor)
    st.divider()
    _history(actor)
