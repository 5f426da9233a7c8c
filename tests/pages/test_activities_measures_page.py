"""The Activities page's Library and Measures tabs as each role: managers keep their team's templates and task
rules (every refusal named), reps read them; the three Phase 2 targets show their figures with the counts behind
them, each role's own; the effectiveness section shows its forest plot and its caveat, in the words of
association."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from flashdash import activities, phase2, tasks
from flashdash.access import resolve_actor
from flashdash.effectiveness import NOTE
from flashdash.store import Store, copy_file
from flashdash.ui import activity_measures
from tests.conftest import NOW
from tests.pages.apptest import open_page, switch_tab, texts

PRESET = "Last 90 days"  # 2026-04-02 – 2026-06-30; its baseline 2026-01-02 – 2026-04-01
CURRENT, BEFORE = datetime(2026, 5, 4, 10), datetime(2026, 2, 2, 10)


# ---------------------------------------------------------------- Phase 2 history, made through the domain


def _leads(store: Store, rep_ids: list[int], n: int) -> list[tuple[int, int]]:
    """n (lead id, owner id) pairs of leads owned by these reps and submitted before the baseline period."""
    with store.read() as con:
        return con.execute("SELECT id, owner_id FROM leads WHERE list_contains(?, owner_id) AND submitted_at < ? "
                           "ORDER BY id LIMIT ?", [rep_ids, BEFORE - timedelta(days=40), n]).fetchall()


def _tasks(store: Store, leads: list[tuple[int, int]], start: datetime, on_time: int) -> None:
    """One task per lead due a day apart from `start`, the first `on_time` done an hour early, the rest a day late
    (the last one left open: missed)."""
    admin = resolve_actor(store, "admin")
    with store.write() as con:
        ids = [(tasks.create_task(store, con, lead, rep, "Call back", start + timedelta(days=i), "test", start),
                start + timedelta(days=i)) for i, (lead, rep) in enumerate(leads)]
    for i, (task_id, due) in enumerate(ids[:-1]):
        tasks.complete(store, admin, task_id, due - timedelta(hours=1) if i < on_time else due + timedelta(days=1))


def _emails(store: Store, leads: list[tuple[int, int]], sent_at: datetime, opened: int, clicked: int) -> None:
    """One sent email per lead; the first `opened` opened, the first `clicked` of those clicked too."""
    with store.write() as con:
        for i, (lead, rep) in enumerate(leads):
            email_id = con.execute(
                "INSERT INTO emails (id, lead_id, rep_id, to_address, subject, body, token, status, attempts, "
                "queued_by, queued_at, sent_at) VALUES (nextval('emails_id_seq'), ?, ?, 'x@y.example', 's', 'b', ?, "
                "'sent', 1, 'test', ?, ?) RETURNING id",
                [lead, rep, f"tok{sent_at:%m}{i:09d}", sent_at, sent_at + timedelta(hours=i)]).fetchone()[0]
            kinds = ["open"] * (i < opened) + ["click"] * (i < clicked)
            for kind in kinds:
                con.execute("INSERT INTO email_events (id, email_id, kind, occurred_at) VALUES "
                            "(nextval('email_events_id_seq'), ?, ?, ?)", [email_id, kind, sent_at + timedelta(days=1)])


def seed_phase2(store: Store) -> None:
    """Phase 2 history in the manager's team: tasks, emails and form-logged activities in the period and the
    baseline before it, plus some for a rep on another team (who must never show up in the manager's figures)."""
    manager = resolve_actor(store, "manager")
    team = list(manager.scope_reps or ())
    leads = _leads(store, team, 60)
    _tasks(store, leads[:30], BEFORE, on_time=12)  # baseline: 12 of 30 on time (40%)
    _tasks(store, leads[30:], CURRENT, on_time=21)  # now: 21 of 30 (70%)
    _emails(store, leads[:40], BEFORE, opened=8, clicked=2)
    _emails(store, leads[10:60], CURRENT, opened=15, clicked=6)
    with store.read() as con:
        others = [r[0] for r in con.execute("SELECT id FROM reps WHERE NOT list_contains(?, id)", [team]).fetchall()]
    _tasks(store, _leads(store, others, 5), CURRENT, on_time=1)
    rep = resolve_actor(store, "rep")
    for i, (lead, _) in enumerate(_leads(store, [rep.rep_id], 12)):
        with_template = i % 2 == 0
        activities.log_activity(store, rep, activities.NewActivity(
            lead, "call", CURRENT + timedelta(days=i), 30, "connected", template_id=-1 if with_template else None,
            fields_typed=1 if with_template else 4), NOW)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, demo_store: Store) -> Store:
    """A copy of the demo store with Phase 2 history, read (never changed) by the read-only tests."""

    path = tmp_path_factory.mktemp("phase2") / "demo.duckdb"
    copy_file(demo_store.path, path)
    store = Store(path)
    seed_phase2(store)
    return store


def _measures(role: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FLASHDASH_DB", str(store.path))
    at = open_page("activities", role, preset=PRESET, tab="Measures")
    assert not at.exception, at.exception
    return at


def _tab(at: AppTest, name: str) -> Any:
    return at.tabs[[t.label for t in at.tabs].index(name)]


def _charts(block: Any) -> list[dict[str, Any]]:
    """Each chart's spec, with its data sets (sent beside it as Arrow) under "datasets"."""
    out = []
    for chart in block.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["datasets"] = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pylist()
                            for d in chart.proto.datasets}
        out.append(spec)
    return out


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in _tab(at, "Measures").get("metric")}


# ---------------------------------------------------------------- the library


def test_a_manager_reads_the_starters_adds_a_template_and_is_told_what_an_empty_name_lacks(live_store: Store) -> None:
    at = open_page("activities", "manager", tab="Library")
    library = _tab(at, "Library")
    names = set(library.get("dataframe")[0].value["name"])
    assert {"Discovery call", "Product demo", "Pricing follow-up"} <= names
    with live_store.read() as con:
        stored = con.execute("SELECT count(*) FROM activity_templates").fetchone()[0]
    at.text_input(key="act.library.template.0.name").input("   ")
    at.button(key="FormSubmitter:act.library.template.form.0-Save template").click().run()
    assert any("give the template a name" in e.value for e in at.error)
    with live_store.read() as con:
        assert con.execute("SELECT count(*) FROM activity_templates").fetchone()[0] == stored  # nothing written
    at.text_input(key="act.library.template.0.name").input("Onboarding check-in")
    at.selectbox(key="act.library.template.0.type").select("meeting")
    at.text_input(key="act.library.template.0.next").input("Send the welcome pack")
    at.number_input(key="act.library.template.0.follow").set_value(3)
    at.button(key="FormSubmitter:act.library.template.form.0-Save template").click().run()
    assert not at.exception and not at.error
    assert any("Added the template 'Onboarding check-in'" in s.value for s in at.success)
    shown = _tab(at, "Library").get("dataframe")[0].value
    row = shown[shown["name"] == "Onboarding check-in"].iloc[0]
    with live_store.read() as con:
        team_id, team = con.execute("SELECT id, name FROM teams WHERE manager_id = ?",
                                    [resolve_actor(live_store, "manager").rep_id]).fetchone()
        stored = con.execute("SELECT team_id, type, next_step, follow_up_days FROM activity_templates "
                             "WHERE name = 'Onboarding check-in'").fetchall()
    assert (row["type"], row["follow-up (days)"], row["for"]) == ("meeting", 3, team)
    assert stored == [(team_id, "meeting", "Send the welcome pack", 3)]


def test_a_manager_adds_a_task_rule_for_the_team_and_a_negative_due_time_is_refused(live_store: Store) -> None:
    at = open_page("activities", "manager", tab="Library")
    (title,) = [w for w in at.text_input if re.fullmatch(r"act\.library\.rule\.\d+\.0\.title", w.key)]
    prefix = title.key.removesuffix(".title")
    team = int(prefix.split(".")[3])
    submit = f"FormSubmitter:act.library.rule.form.{team}.0-Save rule"
    at.radio(key=f"{prefix}.trigger").set_value("activity_logged").run()
    at.selectbox(key=f"{prefix}.value").select("meeting")
    at.text_input(key=f"{prefix}.title").input("Send the meeting notes")
    at.number_input(key=f"{prefix}.due").set_value(-4)
    at.button(key=submit).click().run()
    assert any("due hours must be a whole number from 0" in e.value for e in at.error)
    at.number_input(key=f"{prefix}.due").set_value(12)
    at.button(key=submit).click().run()
    assert not at.error and any("a meeting is logged" in s.value for s in at.success)
    with live_store.read() as con:
        stored = con.execute("SELECT team_id, trigger, value, title, due_hours FROM task_rules").fetchall()
    assert stored == [(team, "activity_logged", "meeting", "Send the meeting notes", 12)]
    rules = _tab(at, "Library").get("dataframe")[1].value
    mine = rules[rules["rule"].str.contains("Send the meeting notes")].iloc[0]
    assert (mine["source"], mine["state"]) == ("the team's own", "applies")
    assert "When a lead enters SQL" in " ".join(rules["rule"])  # the built-in defaults are listed with it


def test_a_rep_reads_the_library_without_any_editor(demo_store: Store) -> None:
    at = open_page("activities", "rep", tab="Library")
    library = _tab(at, "Library")
    assert not at.exception
    assert {"Discovery call", "Product demo"} <= set(library.get("dataframe")[0].value["name"])
    assert len(library.get("dataframe")) == 2  # the rules too
    keys = [b.key for b in at.button] + [w.key for w in at.text_input]
    assert not [k for k in keys if "act.library" in k]
    assert "Managers keep their team's templates" in texts(at)


# ---------------------------------------------------------------- the measures


def _expected(store: Store, role: str) -> dict[str, dict[str, Any]]:
    rows = phase2.measures(store, resolve_actor(store, role), NOW.date() - timedelta(days=89), NOW.date(), NOW)
    return {r["key"]: r for r in rows["targets"].iter_rows(named=True)}


def test_a_manager_sees_the_three_targets_with_their_counts(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _measures("manager", seeded, monkeypatch)
    expected = _expected(seeded, "manager")
    assert min(r["n_current"] for r in expected.values()) > 0  # the seeded history is in every figure
    metrics = _metrics(at)
    for label, key in (("Tasks due in the period done on time", "compliance"), ("Emails opened", "open_rate"),
                       ("Emails clicked", "click_rate"), ("Fields typed per activity with a template", "data_entry")):
        assert metrics[label] == activity_measures.fmt_value(expected[key]["current"], expected[key]["unit"]) != "–"
    shown = texts(at)
    for row in expected.values():
        assert activity_measures.n_text(row) in shown
        assert activity_measures.target_text(row) in shown
    assert "target +35%" in shown and "target -40%" in shown and "Opens are a lower bound" in shown
    measures = _tab(at, "Measures")
    reps = [d.value for d in measures.get("dataframe") if "on time" in d.value.columns][0]
    team = list(resolve_actor(seeded, "manager").scope_reps or ())
    with seeded.read() as con:
        names = {r[0] for r in con.execute("SELECT name FROM reps WHERE list_contains(?, id)", [team]).fetchall()}
    assert set(reps["rep"]) <= names and len(reps) > 1 and reps["due"].sum() == expected["compliance"]["n_current"]
    chart = [c for c in _charts(measures) if "done on time, by the week" in json.dumps(c, default=str)][0]
    level = expected["compliance"]["needed"]
    assert level is not None
    assert any(d.get("target") == pytest.approx(level) for ds in chart["datasets"].values() for d in ds)


def test_the_effectiveness_section_shows_its_forest_plot_and_note_in_the_words_of_association(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _measures("manager", seeded, monkeypatch)
    measures = _tab(at, "Measures")
    assert NOTE in [i.value for i in measures.get("info")]
    forests = [c for c in _charts(measures) if "odds ratio (log scale)" in json.dumps(c, default=str)]
    assert len(forests) == 2 and all(layer["encoding"]["x"]["scale"]["type"] == "log"
                                     for c in forests for layer in c["layer"][:2])
    table = [d.value for d in measures.get("dataframe") if "adjusted odds ratio" in d.value.columns][0]
    assert "associated with" in " ".join(table["wording"])
    words = texts(at).replace(NOTE, "") + " ".join(table["wording"]) + " ".join(table["verdict"])
    assert not re.search(r"\bcaus", words, re.IGNORECASE)


def test_a_rep_sees_only_their_own_figures(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _measures("rep", seeded, monkeypatch)
    rep = resolve_actor(seeded, "rep")
    own = phase2.measures(seeded, rep, NOW.date() - timedelta(days=89), NOW.date(), NOW)["targets"]
    shown = texts(at)
    assert "Your own figures" in shown
    for row in own.iter_rows(named=True):
        assert f"n = {row['n_current']:,} {row['counted']} {row['current_label']}" in shown
    team = phase2.measures(seeded, resolve_actor(seeded, "manager"), NOW.date() - timedelta(days=89), NOW.date(),
                           NOW)["targets"]
    assert own["n_current"].to_list() != team["n_current"].to_list()
    assert not [d for d in _tab(at, "Measures").get("dataframe") if "on time" in d.value.columns]  # no per-rep rows


def test_an_analyst_reads_the_measures_and_the_library_without_editors(seeded: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = _measures("analyst", seeded, monkeypatch)
    assert "Everyone's figures" in texts(at)
    assert _metrics(at)["Tasks due in the period done on time"] != "–"
    at = switch_tab(at, "activities", "Library")
    keys = [b.key for b in at.button] + [w.key for w in (*at.text_input, *at.number_input)]
    assert not [k for k in keys if "act.library" in k]


# ---------------------------------------------------------------- the arithmetic behind the cards


@pytest.mark.parametrize(("current", "baseline", "target", "change", "status"), [
    (0.7, 0.4, 0.35, 0.75, phase2.MET),
    (0.5, 0.4, 0.35, 0.25, phase2.NOT_MET),
    (1.0, 4.0, -0.40, -0.75, phase2.MET),
    (3.0, 4.0, -0.40, -0.25, phase2.NOT_MET),
    (0.5, 0.0, 0.35, None, phase2.NO_BASELINE),
    (0.5, None, 0.20, None, phase2.NO_BASELINE),
    (None, 0.4, 0.20, None, phase2.NO_FIGURE),
])
def test_a_change_is_judged_against_its_target_and_a_zero_baseline_is_no_baseline(
        current: float | None, baseline: float | None, target: float, change: float | None, status: str) -> None:
    assert phase2.relative_change(current, baseline) == (pytest.approx(change) if change is not None else None)
    assert phase2.judge(current, baseline, target) == status


def test_the_level_that_meets_a_target_caps_a_share_at_one() -> None:
    assert phase2.needed(0.8, 0.35, "share") == 1.0
    assert phase2.needed(4.0, -0.40, "n") == pytest.approx(2.4)
    assert phase2.needed(0.0, 0.35, "share") is None
    assert phase2.previous_period(NOW.date() - timedelta(days=89), NOW.date()) == (
        NOW.date() - timedelta(days=179), NOW.date() - timedelta(days=90))
