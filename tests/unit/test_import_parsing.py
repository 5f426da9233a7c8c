"""Reading cells as people write them, and mapping files: numbers, dates, booleans, enumerations, templates,
the YAML form of a mapping and its errors, and the mappings suggested from a file's header and content."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from flashdash import imports, mapping
from flashdash.mapping import Mapping, MappingError, Source


def numbers(cells: list[str | None], decimal: str = "auto") -> list[float | None]:
    return pl.DataFrame({"v": cells}, schema={"v": pl.String}).select(imports.number_expr(pl.col("v"), decimal)) \
        .to_series().to_list()


def coerce(fields: dict[str, Any], cells: dict[str, list[str | None]], entity: str = "leads",
           **options: Any) -> pl.DataFrame:
    """Typed values and `_errors` for a frame of text cells, as an import reads them."""
    m = mapping.from_dict({"entity": entity, "fields": fields, **options})
    n = len(next(iter(cells.values())))
    batch = pl.DataFrame(cells, schema=dict.fromkeys(cells, pl.String)).with_columns(
        _row=pl.int_range(1, n + 1, dtype=pl.Int64))
    coercer = imports.Coercer(m)
    coercer.prepare(batch)
    return coercer.coerce(batch)


# -- numbers


@pytest.mark.parametrize(("cell", "value"), [
    ("1,234.50", 1234.5),
    ("1.234,50", 1234.5),
    ("1 234", 1234.0),
    ("1\u00a0234,5", 1234.5),  # a non-breaking space between thousands, as French and Brazilian locales write
    ("(12)", -12.0),
    ("$1,200", 1200.0),
    ("-$1,200.50", -1200.5),
    ("($1,200)", -1200.0),
    ("R$ 300,00", 300.0),
    ("R$ 1.300,00", 1300.0),
    ("€ 12", 12.0),
    ("1,200 USD", 1200.0),
    ("1.234.567", 1234567.0),
    ("0,5", 0.5),
    ("  42  ", 42.0),
    ("-7", -7.0),
    ("1e3", 1000.0),
])
def test_numbers_are_read_as_people_write_them(cell: str, value: float) -> None:
    assert numbers([cell]) == [pytest.approx(value)]


@pytest.mark.parametrize("cell", ["abc", "12abc", "1,2,3.4.5", "inf", "NaN", "--5", "$", "1.2.3,4,5", ""])
def test_text_that_is_not_a_number_reads_as_nothing(cell: str) -> None:
    assert numbers([cell]) == [None]


def test_the_decimal_option_decides_what_a_lone_separator_means() -> None:
    cells = ["1,234", "1.234", "1.234,5", "1,234.5"]
    assert numbers(cells, ",") == [pytest.approx(1.234), pytest.approx(1234.0), pytest.approx(1234.5), None]
    assert numbers(cells, ".") == [pytest.approx(1234.0), pytest.approx(1.234), None, pytest.approx(1234.5)]
    # The other mark only groups thousands: anything else is a cell to look at, not a number to guess.
    assert numbers(["1,5", "1,2345", "12,34,567"], ".") == [None, None, None]
    assert numbers(["1.5.6", "R$ 1.300,00", "(1.300,5)"], ",") == [None, pytest.approx(1300.0), pytest.approx(-1300.5)]
    # Left to itself, "1,234" is a thousands group and "1.234" a decimal point.
    assert numbers(cells) == [pytest.approx(1234.0), pytest.approx(1.234), pytest.approx(1234.5),
                              pytest.approx(1234.5)]


def test_a_mapping_multiplies_a_monthly_figure_into_a_yearly_one() -> None:
    out = coerce({"monthly_volume": {"column": "v", "multiply": 12}}, {"v": ["1,000.50", "x"]})
    assert out["monthly_volume"].to_list() == [pytest.approx(12006.0), None]
    assert out["_errors"].to_list() == [None, "monthly_volume: 'x' is not a number"]


def test_whole_number_fields_refuse_fractions_and_out_of_range_counts() -> None:
    out = coerce({"duration_min": "d"}, {"d": ["15", "1,5", "99999999999", "ten", None]}, entity="activities")
    assert out["duration_min"].to_list() == [15, None, None, None, None]
    errors = out["_errors"].to_list()
    assert errors[0] is None and errors[4] is None
    assert "not a whole number" in errors[1] and "out of range" in errors[2] and "not a number" in errors[3]


# -- dates


def formats(cells: list[str], dayfirst: bool | None = None) -> tuple[list[str], str | None]:
    return imports.detect_formats(pl.Series("v", cells, dtype=pl.String), dayfirst)


def dates(cells: list[str | None], fmts: list[str]) -> list[datetime | None]:
    frame = pl.DataFrame({"v": cells}, schema={"v": pl.String})
    return frame.select(imports.parse_datetime_expr("v", fmts)).to_series().to_list()


def test_iso_dates_and_times_are_read_in_every_usual_spelling() -> None:
    cells = ["2025-03-14", "2025-03-14 10:22", "2025-03-14T10:22:05", "2025-03-14 10:22:05.123", "2025/03/14"]
    found, note = formats(cells)
    assert note is None
    assert dates(cells, found) == [datetime(2025, 3, 14), datetime(2025, 3, 14, 10, 22),
                                   datetime(2025, 3, 14, 10, 22, 5), datetime(2025, 3, 14, 10, 22, 5, 123000),
                                   datetime(2025, 3, 14)]


def test_a_day_above_twelve_decides_that_a_column_is_month_first() -> None:
    found, note = formats(["03/04/2025", "3/14/2025 10:22 AM", "12/01/2025"])
    assert note is None
    assert dates(["03/04/2025", "3/14/2025 10:22 AM"], found) == [datetime(2025, 3, 4), datetime(2025, 3, 14, 10, 22)]


def test_a_day_above_twelve_decides_that_a_column_is_day_first() -> None:
    found, note = formats(["03/04/2025", "14/03/2025", "01/12/2025 18:30"])
    assert note is None
    assert dates(["03/04/2025", "01/12/2025 18:30"], found) == [datetime(2025, 4, 3), datetime(2025, 12, 1, 18, 30)]


def test_a_column_that_cannot_tell_is_read_month_first_with_a_note() -> None:
    found, note = formats(["03/04/2025", "05/06/2025"])
    assert note is not None and "dayfirst" in note
    assert dates(["03/04/2025"], found) == [datetime(2025, 3, 4)]


def test_the_dayfirst_option_settles_an_ambiguous_column() -> None:
    found, note = formats(["03/04/2025", "05/06/2025"], dayfirst=True)
    assert note is None and dates(["03/04/2025"], found) == [datetime(2025, 4, 3)]
    found, _ = formats(["03/04/2025", "14/03/2025"], dayfirst=False)
    assert dates(["14/03/2025"], found) == [None]  # month 14: the file disagrees with the mapping, and says so


def test_two_digit_years_are_this_century_not_the_first() -> None:
    found, _ = formats(["3/14/25", "12/1/24"])
    assert dates(["3/14/25", "12/1/24"], found) == [datetime(2025, 3, 14), datetime(2024, 12, 1)]


def test_salesforce_us_locale_times_with_a_comma_are_read() -> None:
    found, _ = formats(["3/14/2025, 10:22 AM", "3/15/2025, 4:05 PM"])
    assert dates(["3/15/2025, 4:05 PM"], found) == [datetime(2025, 3, 15, 16, 5)]


def test_month_names_are_read() -> None:
    cells = ["14 Mar 2025", "Mar 15, 2025", "16-Mar-2025"]
    found, _ = formats(cells)
    assert dates(cells, found) == [datetime(2025, 3, 14), datetime(2025, 3, 15), datetime(2025, 3, 16)]


def test_times_with_an_offset_are_stored_in_utc() -> None:
    cells = ["2025-03-14T10:22:00+02:00", "2025-03-14T10:22:00Z", "2025-03-14T10:22:00.5-03:00"]
    found, _ = formats(cells)
    assert dates(cells, found) == [datetime(2025, 3, 14, 8, 22), datetime(2025, 3, 14, 10, 22),
                                   datetime(2025, 3, 14, 13, 22, 0, 500000)]


def test_explicit_formats_in_the_mapping_are_used_as_given() -> None:
    out = coerce({"submitted_at": {"column": "d", "formats": ["%d.%m.%Y %H:%M", "%Y%m%d"]}},
                 {"d": ["14.03.2025 10:22", "20250315", "2025-03-16"]})
    assert out["submitted_at"].to_list() == [datetime(2025, 3, 14, 10, 22), datetime(2025, 3, 15), None]
    assert "'2025-03-16' is not a date in the file's format (%d.%m.%Y %H:%M, %Y%m%d)" in out["_errors"][2]


def test_date_fields_drop_the_time_and_bad_dates_give_a_reason() -> None:
    out = coerce({"won_at": "w"}, {"w": ["2025-03-14 10:22:00", "31/02/2025", "soon"]}, entity="customers")
    assert out["won_at"].to_list() == [date(2025, 3, 14), None, None]
    assert out["_errors"][0] is None
    assert "won_at: '31/02/2025' is not a date" in out["_errors"][1]
    assert "won_at: 'soon' is not a date" in out["_errors"][2]


def test_a_years_misreading_is_not_a_date() -> None:
    assert dates(["0025-03-14", "3025-03-14", "1999-12-31"], ["%Y-%m-%d"]) == [None, None, datetime(1999, 12, 31)]


# -- booleans, enumerations, categories, emails, text


def test_booleans_accept_true_yes_one_and_their_opposites_in_any_case() -> None:
    cells = ["TRUE", "yes", "1", "Y", " x ", "Sim", "FALSE", "no", "0", "N", "Não", None, "maybe"]
    out = coerce({"name": "n", "active": "a"}, {"n": ["r"] * len(cells), "a": cells}, entity="reps")
    assert out["active"].to_list() == [True] * 6 + [False] * 5 + [None, None]
    assert out["_errors"].to_list()[:12] == [None] * 12
    assert out["_errors"][12] == "active: 'maybe' is not yes/no (use true/false, yes/no or 1/0)"


def test_a_mappings_values_add_words_for_yes_and_no() -> None:
    out = coerce({"name": "n", "active": {"column": "a", "values": {"Ativo": True, "Inativo": False}}},
                 {"n": ["r", "s"], "a": ["ativo", "INATIVO"]}, entity="reps")
    assert out["active"].to_list() == [True, False]


def statuses(cells: list[str]) -> pl.DataFrame:
    return coerce({"status": "s"}, {"s": cells})


@pytest.mark.parametrize(("cell", "status"), [
    # Salesforce's default lead statuses
    ("Open - Not Contacted", "new"), ("Working - Contacted", "mql"), ("Closed - Converted", "won"),
    ("Closed - Not Converted", "lost"),
    # HubSpot's lifecycle stages (labels and internal names) and lead statuses
    ("Subscriber", "new"), ("Lead", "new"), ("Marketing Qualified Lead", "mql"), ("marketingqualifiedlead", "mql"),
    ("Sales Qualified Lead", "sql"), ("salesqualifiedlead", "sql"), ("Opportunity", "opportunity"),
    ("Customer", "won"), ("Evangelist", "won"), ("Attempted to Contact", "mql"), ("In Progress", "mql"),
    ("Open Deal", "opportunity"), ("Unqualified", "disqualified"), ("Bad Timing", "lost"),
    # our own words in any case and spacing
    ("  MQL ", "mql"), ("Disqualified", "disqualified"), ("new", "new"),
])
def test_lead_statuses_of_other_products_are_understood(cell: str, status: str) -> None:
    out = statuses([cell])
    assert out["status"].to_list() == [status] and out["_errors"][0] is None


def test_an_unknown_status_is_an_error_that_lists_the_allowed_values() -> None:
    out = statuses(["Hot prospect"])
    assert out["status"][0] is None
    assert out["_errors"][0] == "status: 'Hot prospect' is not one of new, mql, sql, opportunity, won, lost, disqualified"


def test_other_maps_to_no_status_without_an_error() -> None:
    out = statuses(["Other"])
    assert out["status"][0] is None and out["_errors"][0] is None


@pytest.mark.parametrize(("cell", "stage"), [
    # Salesforce
    ("Prospecting", "discovery"), ("Qualification", "discovery"), ("Needs Analysis", "discovery"),
    ("Value Proposition", "proposal"), ("Id. Decision Makers", "proposal"), ("Perception Analysis", "proposal"),
    ("Proposal/Price Quote", "proposal"), ("Negotiation/Review", "negotiation"), ("Closed Won", "closed_won"),
    ("Closed Lost", "closed_lost"),
    # HubSpot (labels and internal names)
    ("Appointment Scheduled", "discovery"), ("appointmentscheduled", "discovery"), ("Qualified To Buy", "discovery"),
    ("Presentation Scheduled", "proposal"), ("Decision Maker Bought-In", "proposal"), ("Contract Sent", "negotiation"),
    ("closedwon", "closed_won"), ("closedlost", "closed_lost"),
    # Pipedrive's default pipelines
    ("Lead In", "discovery"), ("Qualified", "discovery"), ("Contact Made", "discovery"), ("Needs Defined", "discovery"),
    ("Demo Scheduled", "proposal"), ("Proposal Made", "proposal"), ("Negotiations Started", "negotiation"),
    # spelling
    ("  closed   WON ", "closed_won"), ("CLOSED_LOST", "closed_lost"),
])
def test_deal_stages_of_other_products_are_understood(cell: str, stage: str) -> None:
    out = coerce({"stage": "s"}, {"s": [cell]}, entity="opportunities")
    assert out["stage"].to_list() == [stage] and out["_errors"][0] is None


def test_a_mappings_values_add_synonyms_for_an_enumeration() -> None:
    out = coerce({"stage": {"column": "s", "values": {"Verbal yes": "negotiation"}}}, {"s": ["VERBAL  YES", "Demo"]},
                 entity="opportunities")
    assert out["stage"].to_list() == ["negotiation", None]
    assert out["_errors"][1] == "stage: 'Demo' is not one of discovery, proposal, negotiation, closed_won, closed_lost"


def test_activity_types_and_interest_levels_have_synonyms() -> None:
    out = coerce({"type": "t"}, {"t": ["Phone Call", "Logged email", "Meeting", "Product demo", "fax"]},
                 entity="activities")
    assert out["type"].to_list() == ["call", "email", "meeting", "demo", None]
    out = coerce({"interest_level": "r"}, {"r": ["Hot", "warm", "COLD", "A", "low"]})
    assert out["interest_level"].to_list() == ["hot", "warm", "cold", "hot", "cold"]


@pytest.mark.parametrize(("cell", "size"), [
    ("1", "1-10"), ("10", "1-10"), ("11", "11-50"), ("50", "11-50"), ("51", "51-200"), ("200", "51-200"),
    ("201", "201-1000"), ("1000", "201-1000"), ("1,000", "201-1000"), ("1001", "1000+"), ("12,500", "1000+"),
    ("11-50", "11-50"), ("1000+", "1000+"), ("Enterprise", "1000+"), ("small", "11-50"), (" 51 - 200 ", "51-200"),
])
def test_company_size_comes_from_a_count_of_employees_or_a_bucket(cell: str, size: str) -> None:
    out = coerce({"company_size": "e"}, {"e": [cell]})
    assert out["company_size"].to_list() == [size] and out["_errors"][0] is None


def test_a_company_size_that_is_neither_a_count_nor_a_bucket_is_an_error() -> None:
    out = coerce({"company_size": "e"}, {"e": ["0", "lots"]})
    assert out["company_size"].to_list() == [None, None]
    assert all("company_size" in e for e in out["_errors"])


def test_channels_are_normalised_and_unknown_ones_kept_as_written() -> None:
    out = coerce({"channel": "c"}, {"c": ["Organic Search", "PPC", "Referrals", "Partner Referral", "Phone Inquiry"]})
    assert out["channel"].to_list() == ["organic_search", "paid_search", "referral", "partner", "phone_inquiry"]


def test_categories_are_lowercased_with_single_spaces() -> None:
    out = coerce({"vertical": "v"}, {"v": ["Food_And  Beverage", "  RETAIL "]})
    assert out["vertical"].to_list() == ["food and beverage", "retail"]


def test_emails_are_lowercased_and_checked() -> None:
    out = coerce({"email": "e"}, {"e": [" Ana@Example.COM ", "ana.example.com", "a b@x.com", "x@" + "y" * 260 + ".com"]})
    assert out["email"].to_list() == ["ana@example.com", None, None, None]
    assert out["_errors"][0] is None
    assert all("is not an email address" in e for e in out["_errors"][1:])


def test_empty_looking_cells_are_empty() -> None:
    out = coerce({"city": "c"}, {"c": ["", "  ", "N/A", "null", "#N/A", "-", "nan", "(blank)", "Lisboa"]})
    assert out["city"].to_list() == [None] * 8 + ["Lisboa"]


def test_text_longer_than_its_field_allows_is_an_error_with_its_length() -> None:
    out = coerce({"city": "c"}, {"c": ["x" * 501, "x" * 500]})
    assert out["city"].to_list() == [None, "x" * 500]
    assert out["_errors"].to_list() == ["city is 501 characters long; the limit is 500", None]


def test_several_bad_cells_in_a_row_give_every_reason() -> None:
    out = coerce({"email": "e", "submitted_at": "d"}, {"e": ["nope"], "d": ["2025-02-30"]})
    assert out["_errors"][0].startswith("email: 'nope' is not an email address; submitted_at: '2025-02-30'")


# -- templates and constants


def test_a_template_joins_columns_and_cuts_them_to_length() -> None:
    out = coerce({"contact_name": {"template": "{First Name} {Last Name}"},
                  "merchant_name": {"template": "Lead {id:4}"}},
                 {"First Name": ["Ana", None, "Rui", None], "Last Name": ["Costa", "Lima", None, None],
                  "id": ["abcdefgh", "ijkl", "mn", None]})
    assert out["contact_name"].to_list() == ["Ana Costa", "Lima", "Rui", None]
    assert out["merchant_name"].to_list() == ["Lead abcd", "Lead ijkl", "Lead mn", None]


def test_a_constant_fills_every_row() -> None:
    out = coerce({"status": {"value": "mql"}, "city": "c"}, {"c": ["a", "b"]})
    assert out["status"].to_list() == ["mql", "mql"]


def test_a_column_list_takes_the_first_that_is_not_empty() -> None:
    out = coerce({"closed_at": {"column": ["Won time", "Lost time"]}},
                 {"Won time": ["2025-01-02", None, None], "Lost time": [None, "2025-02-03", "-"]}, entity="opportunities")
    assert out["closed_at"].to_list() == [datetime(2025, 1, 2), datetime(2025, 2, 3), None]


@pytest.mark.parametrize("template", ["{unclosed", "no columns", "{a}}", "x {a:b}"])
def test_a_malformed_template_is_a_mapping_error(template: str) -> None:
    with pytest.raises(MappingError, match="Template"):
        mapping.template_parts(template)


# -- the mapping file


FULL = {
    "entity": "leads",
    "on_duplicate": "skip",
    "create_missing": True,
    "accept_near_matches": True,
    "options": {"dayfirst": True, "delimiter": ";", "sheet": "Leads", "decimal": ","},
    "fields": {
        "external_id": "Lead ID",
        "contact_name": {"template": "{First Name} {Last Name}"},
        "merchant_name": {"column": ["Company", "Account"]},
        "submitted_at": {"column": "Created", "formats": ["%d/%m/%Y", "%d/%m/%Y %H:%M"]},
        "status": {"column": "Status", "values": {"Hot lead": "sql", "Trash": None}},
        "monthly_volume": {"column": "Volume", "multiply": 12.0},
        "channel": {"value": "events"},
        "owner": {"column": "Owner", "only_new": True},
        "interest_level": {"default": "warm"},
    },
}


def test_a_mapping_survives_its_yaml_form() -> None:
    m = mapping.from_dict(FULL)
    back = mapping.from_dict(yaml.safe_load(m.to_yaml()))
    assert back == m
    assert back.fields["interest_level"] == Source(value="warm", only_new=True)
    assert back.fields["status"].values == {"Hot lead": "sql", "Trash": None}
    assert (back.dayfirst, back.delimiter, back.sheet, back.decimal) == (True, ";", "Leads", ",")


def test_a_saved_mapping_loads_back_the_same(tmp_path: Path) -> None:
    m = mapping.from_dict(FULL)
    m.save(tmp_path / "m.yaml")
    assert mapping.load(tmp_path / "m.yaml") == m


def test_a_minimal_mapping_writes_plain_column_names() -> None:
    m = Mapping(entity="reps", fields={"name": Source(column="Full name")})
    assert yaml.safe_load(m.to_yaml()) == {"entity": "reps", "on_duplicate": "merge", "fields": {"name": "Full name"}}
    assert mapping.from_dict(yaml.safe_load(m.to_yaml())) == m


def test_every_preset_step_survives_its_yaml_form() -> None:
    found = mapping.presets()
    assert set(found) >= {"olist", "salesforce", "hubspot", "pipedrive"}
    for preset in found.values():
        for step in preset.steps:
            assert mapping.from_dict(yaml.safe_load(step.mapping.to_yaml())) == step.mapping


def test_the_resolved_date_formats_are_written_into_the_recorded_mapping() -> None:
    m = mapping.from_dict({"entity": "leads", "fields": {"submitted_at": "d"}})
    coercer = imports.Coercer(m)
    coercer.prepare(pl.DataFrame({"d": ["14/03/2025"], "_row": [1]}))
    recorded = mapping.from_dict(yaml.safe_load(coercer.resolved_mapping().to_yaml()))
    assert "%d/%m/%Y" in recorded.fields["submitted_at"].formats
    assert recorded.fields["submitted_at"].column == "d"


@pytest.mark.parametrize(("data", "message"), [
    ({"fields": {}}, "needs `entity:`"),
    ("leads", "needs `entity:`"),
    ({"entity": "prospects", "fields": {}}, "Unknown entity 'prospects'"),
    ({"entity": "leads", "fields": {"mail": "Email"}}, "leads has no field(s) 'mail'; its fields are: external_id"),
    ({"entity": "leads", "feilds": {"email": "Email"}}, "Unknown key(s) 'feilds'"),
    ({"entity": "leads", "on_duplicates": "skip", "fields": {}}, "Unknown key(s) 'on_duplicates'"),
    ({"entity": "leads", "on_duplicate": "overwrite", "fields": {}}, "on_duplicate must be one of merge, skip"),
    ({"entity": "leads", "fields": ["email"]}, "`fields:` must be a table"),
    ({"entity": "leads", "fields": {"email": None}}, "Field 'email': give a column name or a table"),
    ({"entity": "leads", "fields": {"email": {"colum": "Email"}}}, "Field 'email': unknown key(s) colum"),
    ({"entity": "leads", "fields": {"email": {"column": "E", "value": "x"}}}, "give exactly one of column"),
    ({"entity": "leads", "fields": {"email": {"formats": ["%Y"]}}}, "give exactly one of column"),
    ({"entity": "leads", "fields": {"contact_name": {"template": "{First"}}}, "Template '{First'"),
    ({"entity": "leads", "fields": {"contact_name": {"template": 5}}}, "a template is text"),
    ({"entity": "leads", "fields": {"email": {"column": "E", "formats": ["%Y"]}}}, "is not a date; formats"),
    ({"entity": "leads", "fields": {"submitted_at": {"column": "E", "formats": 5}}}, "formats is a list"),
    ({"entity": "leads", "fields": {"status": {"column": "S", "values": ["a"]}}}, "values must be a table"),
    ({"entity": "leads", "fields": {"monthly_volume": {"column": "V", "multiply": "12"}}}, "multiply must be a number"),
    ({"entity": "leads", "fields": {"merchant_name": {"column": []}}}, "a column list must name at least one"),
    ({"entity": "leads", "options": "dayfirst", "fields": {}}, "`options:` must be a table"),
    ({"entity": "leads", "options": {"day_first": True}, "fields": {}}, "Unknown option(s) 'day_first'"),
    ({"entity": "leads", "options": {"dayfirst": "yes"}, "fields": {}}, "dayfirst must be true or false"),
    ({"entity": "leads", "options": {"decimal": ";"}, "fields": {}}, "options.decimal must be"),
    ({"entity": "leads", "options": {"delimiter": ";;"}, "fields": {}}, "options.delimiter must be one character"),
    ({"entity": "leads", "create_missing": "no", "fields": {}}, "create_missing must be true or false"),
])
def test_a_bad_mapping_says_what_to_change(data: Any, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapping.from_dict(data)
    assert message in str(caught.value)


def test_a_mapping_file_that_is_missing_or_not_yaml_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="There is no mapping file"):
        mapping.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("entity: leads\nfields: {email: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        mapping.load(tmp_path / "bad.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(MappingError, match="cannot be read as text"):
        mapping.load(tmp_path / "binary.yaml")
    with pytest.raises(MappingError, match="cannot be read as text"):
        mapping.load(tmp_path)  # a directory


def test_a_column_the_file_lacks_is_named_with_the_columns_it_has() -> None:
    m = mapping.from_dict({"entity": "leads", "fields": {"email": "E-mail", "contact_name": {"template": "{First}"}}})
    with pytest.raises(MappingError) as caught:
        mapping.check_columns(m, ["Email", "Name"])
    assert "'E-mail', 'First'" in str(caught.value) and "The file's columns are: 'Email', 'Name'" in str(caught.value)


def test_columns_that_differ_only_in_case_or_spacing_are_found() -> None:
    m = mapping.from_dict({"entity": "opportunities", "fields": {
        "owner": "Deal Owner", "name": {"template": "{Deal Name} ({Record ID:4})"},
        "closed_at": {"column": ["Won Time", "Lost time"]}, "amount": "Amount"}})
    resolved = mapping.resolve_columns(m, ["Deal owner", "deal name", " Record ID ", "Won time", "Lost time", "Amount"])
    mapping.check_columns(resolved, ["Deal owner", "deal name", " Record ID ", "Won time", "Lost time", "Amount"])
    assert resolved.fields["owner"].column == "Deal owner"
    assert resolved.fields["name"].template == "{deal name} ({ Record ID :4})"
    assert resolved.fields["closed_at"].column == ["Won time", "Lost time"]
    # Two columns that both fit are not guessed between.
    ambiguous = mapping.resolve_columns(m, ["Deal owner", "DEAL OWNER"])
    assert ambiguous.fields["owner"].column == "Deal Owner"


# -- suggestions


def suggested(entity: str, columns: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v.column or v.template for k, v in mapping.suggest(entity, pl.DataFrame(columns)).fields.items()}


SF_LEADS = {
    "Lead ID": ["00Q5g00000AbCdE", "00Q5g00000AbCdF"], "First Name": ["Maria", "John"], "Last Name": ["Silva", "Roe"],
    "Company": ["Padaria Pão Quente", "Acme"], "Email": ["maria@paoquente.com.br", "john@acme.com"],
    "Phone": ["(11) 5555-0101", "555-0102"], "Lead Source": ["Web", "Partner Referral"],
    "Lead Status": ["Open - Not Contacted", "Working - Contacted"], "Rating": ["Hot", "Cold"],
    "Industry": ["Food & Beverage", "Retail"], "No. of Employees": ["12", "1,200"], "City": ["São Paulo", "Austin"],
    "State/Province": ["SP", "TX"], "Lead Owner": ["Ana Costa", "Ben Ode"],
    "Created Date": ["3/14/2025 10:22 AM", "3/15/2025 9:01 AM"],
}


def test_suggest_maps_a_salesforce_leads_report() -> None:
    assert suggested("leads", SF_LEADS) == {
        "external_id": "Lead ID", "contact_name": "{First Name} {Last Name}", "merchant_name": "Company",
        "email": "Email", "phone": "Phone",
        "vertical": "Industry", "company_size": "No. of Employees", "city": "City", "region": "State/Province",
        "channel": "Lead Source", "interest_level": "Rating", "submitted_at": "Created Date", "owner": "Lead Owner",
        "status": "Lead Status",
    }


def test_suggest_maps_a_hubspot_contacts_export() -> None:
    cols = {
        "Record ID": ["101", "102"], "First Name": ["Ana", "Rui"], "Last Name": ["Costa", "Lima"],
        "Email": ["ana@x.com", "rui@y.com"], "Phone Number": ["+55 11 5555", "+55 21 5555"],
        "Company Name": ["Loja A", "Loja B"], "Lifecycle Stage": ["Lead", "Marketing Qualified Lead"],
        "Contact owner": ["Ana Costa", "Ben Ode"], "Create Date": ["2025-03-14 10:22", "2025-03-15 11:00"],
        "Original Source": ["Organic Search", "Paid Social"], "Industry": ["Retail", "Food"],
        "Number of Employees": ["25", "300"], "City": ["Rio", "Recife"], "State/Region": ["RJ", "PE"],
    }
    assert suggested("leads", cols) == {
        "external_id": "Record ID", "contact_name": "{First Name} {Last Name}", "merchant_name": "Company Name",
        "email": "Email", "phone": "Phone Number",
        "vertical": "Industry", "company_size": "Number of Employees", "city": "City", "region": "State/Region",
        "channel": "Original Source", "submitted_at": "Create Date", "owner": "Contact owner",
        "status": "Lifecycle Stage",
    }


def test_suggest_maps_a_pipedrive_deals_export() -> None:
    cols = {
        "Deal - ID": ["1", "2"], "Deal - Title": ["Acme deal", "Beta deal"], "Deal - Value": ["1,500", "300"],
        "Deal - Currency": ["USD", "USD"], "Deal - Organization": ["Acme", "Beta"],
        "Deal - Contact person": ["John Roe", "Mia Poe"], "Deal - Owner": ["Ana Costa", "Ben Ode"],
        "Deal - Stage": ["Qualified", "Proposal Made"], "Deal - Status": ["Open", "Won"],
        "Deal - Deal created": ["2025-03-14 10:22:00", "2025-03-01 09:00:00"],
        "Deal - Won time": ["", "2025-04-01 12:00:00"], "Deal - Lost time": ["", ""], "Deal - Lost reason": ["", ""],
        "Deal - Expected close date": ["2025-05-01", "2025-04-01"],
    }
    got = suggested("opportunities", cols)
    assert got == {
        "external_id": "Deal - ID", "name": "Deal - Title", "merchant_name": "Deal - Organization",
        "owner": "Deal - Owner", "amount": "Deal - Value", "stage": "Deal - Stage", "won": "Deal - Status",
        "created_at": "Deal - Deal created", "expected_close": "Deal - Expected close date",
        "closed_at": "Deal - Won time", "loss_reason": "Deal - Lost reason",
    }


def test_suggest_maps_a_salesforce_opportunities_report() -> None:
    cols = {"Opportunity ID": ["0065g01"], "Opportunity Name": ["Acme - POS"], "Account Name": ["Acme"],
            "Opportunity Owner": ["Ana Costa"], "Amount": ["$12,000.00"], "Stage": ["Closed Won"],
            "Close Date": ["4/30/2025"], "Created Date": ["3/20/2025"]}
    assert suggested("opportunities", cols) == {
        "external_id": "Opportunity ID", "name": "Opportunity Name", "merchant_name": "Account Name",
        "owner": "Opportunity Owner", "amount": "Amount", "stage": "Stage", "created_at": "Created Date",
        "expected_close": "Close Date",
    }


def test_suggest_finds_emails_and_dates_by_their_content_under_odd_headers() -> None:
    got = suggested("leads", {"contato": ["ana@x.com", "rui@y.com.br", "lia@z.io"],
                              "quando": ["2025-03-14", "2025-03-15", "2025-03-16"],
                              "obs": ["ligar depois", "cliente grande", "x"]})
    assert got == {"email": "contato", "submitted_at": "quando"}


def test_suggest_does_not_take_a_date_header_whose_cells_are_not_dates() -> None:
    got = suggested("leads", {"Created Date": ["yesterday", "last week", "n/a"], "Email": ["a@b.co", "c@d.co", ""]})
    assert got == {"email": "Email"}


def test_suggest_maps_each_column_once_and_each_field_once() -> None:
    m = mapping.suggest("reps", pl.DataFrame({"Name": ["Ana"], "Full name": ["Ana Costa"], "E-mail": ["a@x.com"],
                                              "Quota": ["1,000"], "_row": ["1"]}))
    assert {k: v.column for k, v in m.fields.items()} == {"name": "Name", "email": "E-mail", "monthly_quota": "Quota"}


def test_suggest_for_an_unknown_entity_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="Unknown entity"):
        mapping.suggest("deals", pl.DataFrame({"a": ["1"]}))
