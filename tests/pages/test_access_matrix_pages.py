"""Every page and every tab as every role: a page a role may not open shows only the refusal; on the others, no
table, chart or text shows a lead, rep or team outside the role's scope, nor an unmasked contact to analysts and
executives; the search boxes find nothing outside the scope and do not name it; a download holds what is shown.

Each (page, role) renders once per module and every check reads that render (the store is only read).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from flashdash import access
from flashdash.store import Store
from tests.access_probe import ROLES, Scope, frame_leaks, scope_of, text_leaks
from tests.conftest import NOW
from tests.pages.apptest import TAB_KEYS, open_page


@dataclass
class Shown:
    """What one render of a page (one tab) put on screen."""

    tab: str
    frames: list[tuple[str, Any]] = field(default_factory=list)  # (where, pandas frame): tables and chart data
    text: str = ""
    errors: list[str] = field(default_factory=list)


def _strings(message: Any) -> Iterator[str]:
    """Every string field of a protobuf message, nested ones too (labels, options, values, help)."""
    for desc, value in message.ListFields():
        values = value if getattr(desc, "is_repeated", False) or isinstance(value, Sequence) and \
            not isinstance(value, (str, bytes)) else [value]
        for v in values:
            if isinstance(v, str):
                yield v
            elif hasattr(v, "ListFields"):
                yield from _strings(v)


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def _chart_frames(proto: Any) -> Iterator[Any]:
    """A vega-lite chart's data: its datasets, its main data, and values written inline in its spec."""
    for ds in proto.datasets:
        yield convert_arrow_bytes_to_pandas_df(ds.data.data)
    if proto.HasField("data") and proto.data.data:
        yield convert_arrow_bytes_to_pandas_df(proto.data.data)
    inline = list(_spec_values(json.loads(proto.spec or "{}")))
    if inline:
        import pandas as pd

        yield pd.DataFrame(inline)


def _spec_values(spec: Any) -> Iterator[dict[str, Any]]:
    if isinstance(spec, dict):
        data = spec.get("data")
        if isinstance(data, dict) and isinstance(data.get("values"), list):
            yield from (v for v in data["values"] if isinstance(v, dict))
        for v in spec.values():
            yield from _spec_values(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _spec_values(v)


def shown(at: AppTest, tab: str = "") -> Shown:
    """The tables, chart data and text of a render."""
    out = Shown(tab=tab, errors=[str(e.value) for e in at.exception])
    texts: list[str] = []
    for i, node in enumerate(_nodes(at._tree)):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if kind in ("dataframe", "table"):
            out.frames.append((f"{tab}:{kind}[{i}]", node.value))
        elif kind in ("vega_lite_chart", "arrow_vega_lite_chart") and proto is not None:
            out.frames += [(f"{tab}:chart[{i}]", f) for f in _chart_frames(proto)]
        if proto is not None and hasattr(proto, "ListFields") and kind not in ("dataframe", "table"):
            texts += [s for s in _strings(proto) if not s.startswith("{")]  # a chart's spec is read as data above
    out.text = "\n".join(texts)
    return out


def _tabs(at: AppTest) -> list[str]:
    return [t.label for t in at.tabs]


# ---------------------------------------------------------------- one render per (page, role), kept for the module


class Renders:
    """Renders each (page, role) once, every tab of it (the Activities page runs only its open tab)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], list[Shown]] = {}

    def get(self, page: str, role: str) -> list[Shown]:
        if (page, role) not in self.cache:
            self.cache[page, role] = self._render(page, role)
        return self.cache[page, role]

    def _render(self, page: str, role: str) -> list[Shown]:
        at = open_page(page, role)
        first = _tabs(at)[0] if page in TAB_KEYS and _tabs(at) else ""
        out = [shown(at, first)]
        if page in TAB_KEYS and role in access.PAGE_BY_KEY[page].roles:
            for label in _tabs(at)[1:]:
                out.append(shown(open_page(page, role, tab=label), label))
        return out


@pytest.fixture(scope="module")
def page_store(tmp_path_factory: pytest.TempPathFactory, demo_store: Store) -> Iterator[Store]:
    """The demo store, with the environment the pages read it through set for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLASHDASH_DB", str(demo_store.path))
        mp.setenv("FLASHDASH_NOW", NOW.isoformat())
        mp.setenv("FLASHDASH_MODELS", str(demo_store.path.parent / "models"))
        mp.setenv("FLASHDASH_COOKIE_KEY", "test-cookie-key")
        yield demo_store


@pytest.fixture(scope="module")
def renders(page_store: Store) -> Renders:
    return Renders()


@pytest.fixture(scope="module")
def scopes(page_store: Store) -> dict[str, Scope]:
    return {role: scope_of(page_store, role) for role in ROLES}


PAGE_ROLES = [(p.key, role) for p in access.PAGES for role in ROLES]

# Leaks found: (page, role) -> what leaks; expected failures until fixed (strict: an entry must go once fixed).
PAGE_LEAKS: dict[tuple[str, str], str] = {}


def _params(pairs: list[tuple[str, str]]) -> list[Any]:
    return [pytest.param(page, role, id=f"{page}-{role}",
                         marks=[pytest.mark.xfail(strict=True, reason=PAGE_LEAKS[page, role])]
                         if (page, role) in PAGE_LEAKS else [])
            for page, role in pairs]


@pytest.mark.parametrize(("page", "role"), _params([pr for pr in PAGE_ROLES
                                                    if pr[1] not in access.PAGE_BY_KEY[pr[0]].roles]))
def test_a_page_the_role_may_not_open_shows_only_the_refusal(page: str, role: str, renders: Renders,
                                                             scopes: dict[str, Scope]) -> None:
    (only,) = renders.get(page, role)
    assert only.frames == [] and only.errors == []
    assert f"Your role ({role}) cannot open" in only.text
    assert text_leaks(only.text, scopes[role], page) == []


@pytest.mark.parametrize(("page", "role"), _params([pr for pr in PAGE_ROLES
                                                    if pr[1] in access.PAGE_BY_KEY[pr[0]].roles]))
def test_every_table_chart_and_text_of_a_page_stays_in_the_roles_scope(page: str, role: str, renders: Renders,
                                                                       scopes: dict[str, Scope]) -> None:
    scope = scopes[role]
    problems: list[str] = []
    for one in renders.get(page, role):
        assert one.errors == [], f"{page} ({one.tab or 'page'}) as {role} failed: {one.errors}"
        for where, frame in one.frames:
            problems += frame_leaks(frame, scope, f"{page} {where}")
        problems += text_leaks(one.text, scope, f"{page} {one.tab}")
    assert problems == []


def test_the_pages_show_tables_and_charts_to_check(renders: Renders) -> None:
    """The matrix would pass on empty pages: the ones with the most data show both tables and charts."""
    for page, role in (("funnel", "admin"), ("submissions", "rep"), ("scoreboard", "manager")):
        kinds = {where.split(":")[1].split("[")[0] for one in renders.get(page, role) for where, _ in one.frames}
        assert {"dataframe", "chart"} <= kinds, (page, role, kinds)


# ---------------------------------------------------------------- search boxes

# (page, tab or None, the text box's key)
SEARCH_BOXES = (
    ("leads", None, "leads.detail.ref"),
    ("leads", None, "leads.f.search"),
    ("activities", "Timeline", "act.timeline.ref"),
    ("activities", "Log", "act.log.ref"),
    ("submissions", None, "subs.search"),
    ("submissions", None, "subs.lead"),
)


@pytest.mark.parametrize("role", ("rep", "manager"))
@pytest.mark.parametrize(("page", "tab", "key"), SEARCH_BOXES, ids=[b[2] for b in SEARCH_BOXES])
def test_searching_for_a_lead_outside_the_scope_finds_nothing_and_names_nothing(
        page: str, tab: str | None, key: str, role: str, page_store: Store, scopes: dict[str, Scope]) -> None:
    scope = scopes[role]
    lead = scope.outside[0]
    at = open_page(page, role, tab=tab)
    problems: list[str] = []
    for what in ("id", "external_id", "merchant_name", "email"):
        query = str(lead[what])
        at.text_input(key=key).set_value(query).run()
        seen = shown(at, f"{key}={what}")
        assert seen.errors == []
        for where, frame in seen.frames:
            problems += frame_leaks(frame, scope, where)
        # what was typed may be said back ("Lead “x” was not found in your book"): anything more gives the lead away
        text = seen.text.replace(query, "")
        problems += text_leaks(text, scope, seen.tab)
        problems += [f"{seen.tab}: shows {v!r}" for v in (lead["merchant_name"], lead["email"]) if v in text]
    assert problems == []


# ---------------------------------------------------------------- downloads


class _KeptMediaFiles(MediaFileManager):
    """AppTest's media file manager, kept after the run so that a deferred download can be built."""

    made: list[MediaFileManager] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _KeptMediaFiles.made.append(self)


def test_a_download_holds_exactly_the_rows_of_the_table_shown(page_store: Store, scopes: dict[str, Scope],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """components.download builds its files from the frame st.dataframe shows; so checking the frames checks the
    downloads. One table's CSV, built as a click would, confirms it."""
    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", _KeptMediaFiles)
    at = open_page("submissions", "rep")
    table = at.dataframe[0].value
    button = next(b for b in at.get("download_button") if b.proto.label.upper().startswith("CSV"))
    deferred = _KeptMediaFiles.made[-1]._deferred_callables[button.proto.deferred_file_id]  # noqa: SLF001
    data = deferred["callable"]()
    got = pl.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    assert got.height == len(table) and got.columns == [str(c) for c in table.columns]
    assert frame_leaks(got, scopes["rep"], "submissions download") == []
