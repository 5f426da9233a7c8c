"""The activity form's pure parts: what counts as typed, what a template prefills, what a next step means,
validation of the new fields, and reading an activity CSV's headers and rows."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from flashdash.activities import (
    STARTER_TEMPLATES,
    ActivityError,
    NewActivity,
    csv_columns,
    fields_typed,
    next_step_kind,
    prefill,
    read_csv,
    starter_library,
    validate,
)

NOW = datetime(2026, 6, 30, 12, 0)
TEMPLATE = {"id": 7, "type": "call", "duration_min": 30, "outcome": "connected", "notes": "Pain points:",
            "next_step": "Send pricing", "follow_up_days": 2, "name": "Discovery call"}


def test_without_a_template_every_filled_field_counts_as_typed() -> None:
    submitted = {"type": "call", "duration_min": 15, "outcome": "connected", "notes": "  ", "next_step": None}
    assert fields_typed(None, submitted) == 3  # blank notes and no next step were not typed


def test_with_a_template_only_the_fields_changed_from_the_prefill_count() -> None:
    form = prefill(TEMPLATE)
    assert fields_typed(TEMPLATE, form) == 0  # saved as prefilled
    edited = {**form, "notes": "Pain points: fees", "duration_min": 45}
    assert fields_typed(TEMPLATE, edited) == 2


def test_a_cleared_prefilled_field_counts_but_case_and_spaces_do_not() -> None:
    form = {**prefill(TEMPLATE), "type": " CALL ", "outcome": "connected  ", "next_step": ""}
    assert fields_typed(TEMPLATE, form) == 1  # only the cleared next step
    assert fields_typed(TEMPLATE, {**prefill(TEMPLATE), "duration_min": "30"}) == 0  # a widget's text is the same 30


def test_prefill_gives_the_form_fields_the_template_id_and_its_follow_up() -> None:
    assert prefill(TEMPLATE) == {"template_id": 7, "follow_up_days": 2, "type": "call", "duration_min": 30,
                                 "outcome": "connected", "notes": "Pain points:", "next_step": "Send pricing"}


@pytest.mark.parametrize(("step", "kind"), [
    ("Send pricing", "email"), ("Send the proposal", "email"), ("Call to discuss", "call"),
    ("Book a demo", "demo"), ("Schedule a meeting with finance", "meeting"), ("Check the contract", "task"),
    (None, "task"),
])
def test_a_next_step_names_what_doing_it_means(step: str | None, kind: str) -> None:
    assert next_step_kind(step) == kind


def test_the_starter_library_has_the_four_common_motions_with_their_follow_ups() -> None:
    lib = starter_library()
    assert lib["name"].to_list() == ["Discovery call", "Product demo", "Pricing follow-up", "Intro meeting"]
    assert lib["id"].to_list() == [-1, -2, -3, -4] and lib["built_in"].all()
    discovery = lib.row(0, named=True)
    assert (discovery["type"], discovery["duration_min"], discovery["outcome"], discovery["next_step"],
            discovery["follow_up_days"]) == ("call", 30, "connected", "Send pricing", 2)
    assert "Decision maker" in discovery["notes"]  # a skeleton of questions to fill in
    assert [t["follow_up_days"] for t in STARTER_TEMPLATES] == [2, 2, 3, None]


def test_validation_trims_the_next_step_and_names_every_new_problem() -> None:
    ok = validate(NewActivity(1, "Call", NOW, next_step="  Send pricing ", source=" Queue"), NOW)
    assert (ok.type, ok.next_step, ok.source) == ("call", "Send pricing", "queue")
    with pytest.raises(ActivityError) as caught:
        validate(NewActivity(1, "call", NOW, next_step="x" * 201, fields_typed=9, source="fax"), NOW)
    for part in ("the next step is 201 characters", "between 0 and 5", "the source must be one of"):
        assert part in str(caught.value)


def test_csv_headers_are_matched_whatever_their_case_and_spacing() -> None:
    found, ignored = csv_columns(["Lead ID", " TYPE ", "Date", "Duration (min)", "Next Step", "Owner"])
    assert found == {"lead": "Lead ID", "type": " TYPE ", "when": "Date", "duration": "Duration (min)",
                     "next_step": "Next Step"}
    assert ignored == ["Owner"]


def test_a_csv_without_a_required_column_is_refused_naming_it_and_the_columns_it_has() -> None:
    with pytest.raises(ActivityError) as caught:
        csv_columns(["lead", "outcome"])
    message = str(caught.value)
    assert "no 'type', 'when' columns" in message and "'lead', 'outcome'" in message
    with pytest.raises(ActivityError, match="'Date' and 'when' are both the when"):
        csv_columns(["lead", "type", "Date", "when"])


def test_a_semicolon_csv_is_read_as_trimmed_text_with_numbered_rows() -> None:
    rows, ignored = read_csv("\ufeffLead;Type;When;Notes;Extra\n12; call ;2026-06-01 10:00;;x\nA-7;EMAIL;01/06/2026;hi;\n"
                             .encode())
    assert ignored == ["Extra"]
    assert rows.columns == ["row", "lead", "type", "when", "duration", "outcome", "notes", "next_step"]
    assert rows.select("row", "lead", "type", "notes").rows() == [(1, "12", "call", None), (2, "A-7", "EMAIL", "hi")]
    assert rows["duration"].dtype == pl.String and rows["duration"].null_count() == 2
