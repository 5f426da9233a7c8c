"""What an import can fill, and how a file's columns map onto it.

Each importable entity has a spec: its fields, their kinds (text, number, date, enumeration,
reference to another entity...), which are required for a new row, and the natural keys that find an
existing row. A `Mapping` says, for one file, where each field's value comes from: a column, a
constant, or a template over columns. Mappings are YAML files (the format is in the README); the
Admin page builds one from suggestions and can save it, and the command line reads it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from rapidfuzz import fuzz, process

from flashdash.entities import ACTIVITY_TYPES, COMPANY_SIZES, INTEREST_LEVELS, LEAD_STATUSES, OPPORTUNITY_STAGES

PRESETS_DIR = Path(__file__).parent / "mappings"
ON_DUPLICATE = ("merge", "skip")
KINDS = ("text", "email", "int", "number", "datetime", "date", "bool", "enum", "category", "ref")


@dataclass(frozen=True)
class FieldSpec:
    """One field an import can fill."""

    name: str
    kind: str
    label: str = ""
    required: bool = False  # required when the row makes a new record
    vocab: tuple[str, ...] = ()  # allowed values of an enum
    ref: str | None = None  # the entity a reference points at
    column: str | None = None  # the table column, when it differs from the name (owner -> owner_id)
    aliases: tuple[str, ...] = ()  # column names in other products' exports that mean this field
    max_length: int = 500
    default: Any = None  # for a new record when the file has nothing

    @property
    def target(self) -> str:
        return self.column or self.name

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class EntitySpec:
    name: str
    table: str
    label: str
    fields: tuple[FieldSpec, ...]
    keys: tuple[str, ...]  # natural keys, tried in order, that find a record already in the store
    key_columns: tuple[str, ...] = ("id",)  # the table's primary key

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _f(name: str, kind: str, *aliases: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, kind=kind, aliases=aliases, **kw)


_EXT = ("id", "record id", "external id", "external_id")
_OWNER = ("owner", "rep", "sales rep", "assigned to", "owner name", "owner email", "user")

ENTITIES: dict[str, EntitySpec] = {s.name: s for s in (
    EntitySpec("leads", "leads", "Leads (form submissions)", (
        _f("external_id", "text", *_EXT, "lead id", "mql_id", "contact id", "lead_id"),
        _f("merchant_name", "text", "company", "company name", "account name", "organization", "business name",
           "merchant", "organization name"),
        _f("contact_name", "text", "name", "full name", "contact", "contact person", "person"),
        _f("email", "email", "email address", "e-mail", "contact email", "work email"),
        _f("phone", "text", "phone number", "mobile", "mobile phone", "telephone"),
        _f("vertical", "category", "industry", "segment", "business segment", "business_segment"),
        _f("company_size", "enum", "employees", "number of employees", "company size", "size",
           vocab=COMPANY_SIZES),
        _f("monthly_volume", "number", "monthly volume", "payment volume", "estimated volume"),
        _f("city", "text", "town", "mailing city"),
        _f("region", "ref", "state", "region", "territory", "state/region", ref="regions", column="region_id"),
        _f("channel", "category", "lead source", "source", "origin", "original source", "channel",
           "original source type"),
        _f("campaign", "text", "campaign name", "utm campaign", "utm_campaign"),
        _f("landing_page", "text", "landing page", "landing_page_id", "page", "form"),
        _f("interest_level", "enum", "rating", "interest", "lead rating", "temperature", vocab=INTEREST_LEVELS),
        _f("submitted_at", "datetime", "created date", "create date", "first_contact_date", "created",
           "submitted", "date", "created at", "lead created", required=True),
        _f("first_response_at", "datetime", "first response", "first contacted", "first touch",
           "last contacted"),
        _f("owner", "ref", *_OWNER, "lead owner", "contact owner", "sdr", "sdr_id", ref="reps",
           column="owner_id"),
        _f("status", "enum", "lead status", "lifecycle stage", "stage", vocab=LEAD_STATUSES, default="new"),
        _f("status_changed_at", "datetime", "status changed", "converted date", "became a customer date",
           "won date", "won_date"),
    ), keys=("external_id", "email")),
    EntitySpec("reps", "reps", "Reps (the sales team)", (
        _f("external_id", "text", *_EXT, "user id", "employee id", "sdr_id", "sr_id"),
        _f("name", "text", "full name", "rep", "rep name", "user", "owner", required=True),
        _f("email", "email", "email address", "e-mail", "work email"),
        _f("title", "enum", "role", "job title", "position", vocab=("rep", "manager", "sdr", "closer"),
           default="rep"),
        _f("team", "ref", "team name", "sales team", ref="teams", column="team_id"),
        _f("region", "ref", "territory", "state", ref="regions", column="region_id"),
        _f("monthly_quota", "number", "quota", "monthly target", "target", default=0.0),
        _f("start_date", "date", "hire date", "start", "started", "hired"),
        _f("active", "bool", "is active", "enabled", "status", default=True),
    ), keys=("external_id", "email", "name")),
    EntitySpec("activities", "activities", "Activities (calls, emails, meetings, demos)", (
        _f("external_id", "text", *_EXT, "activity id", "task id", "engagement id"),
        _f("lead", "ref", "lead", "lead id", "contact", "contact id", "related to", "mql_id", "email",
           ref="leads", column="lead_id", required=True),
        _f("rep", "ref", *_OWNER, "assigned", "activity owner", ref="reps", column="rep_id"),
        _f("type", "enum", "activity type", "task type", "type", "subject", vocab=ACTIVITY_TYPES, required=True),
        _f("occurred_at", "datetime", "date", "activity date", "due date", "created date", "timestamp",
           "start date", required=True),
        _f("duration_min", "int", "duration", "duration (minutes)", "minutes", "call duration"),
        _f("outcome", "text", "result", "call outcome", "disposition", "status"),
        _f("notes", "text", "note", "description", "comments", "body", "details", max_length=20_000),
    ), keys=("external_id",)),
    EntitySpec("opportunities", "opportunities", "Opportunities (deals)", (
        _f("external_id", "text", *_EXT, "opportunity id", "deal id", "mql_id"),
        _f("name", "text", "opportunity name", "deal name", "title", "deal title"),
        _f("lead", "ref", "lead id", "mql_id", "lead", "contact email", ref="leads", column="lead_id",
           required=True),
        _f("merchant_name", "text", "account name", "organization", "company", "company name",
           "organization name", "associated company"),
        _f("owner", "ref", *_OWNER, "opportunity owner", "deal owner", "sr_id", ref="reps", column="owner_id"),
        _f("amount", "number", "value", "deal value", "annual revenue", "expected revenue", default=0.0),
        _f("stage", "enum", "stage", "deal stage", "pipeline stage", "opportunity stage",
           vocab=OPPORTUNITY_STAGES),
        _f("won", "bool", "won", "status", "closed won", "is won", "deal status"),
        _f("created_at", "datetime", "created date", "create date", "deal created", "created",
           "opportunity created date", required=True),
        _f("expected_close", "date", "close date", "expected close date", "expected close"),
        _f("closed_at", "datetime", "closed date", "won time", "won date", "won_date", "close time",
           "closed on"),
        _f("loss_reason", "text", "lost reason", "loss reason", "closed lost reason"),
    ), keys=("external_id",)),
    EntitySpec("customers", "customers", "Customers (won merchants)", (
        _f("external_id", "text", *_EXT, "customer id", "account id", "seller_id", "merchant id"),
        _f("lead", "ref", "lead id", "mql_id", "lead", ref="leads", column="lead_id"),
        _f("merchant_name", "text", "account name", "company", "company name", "merchant", "name",
           "organization", required=True),
        _f("vertical", "category", "industry", "segment", "business segment", "business_segment"),
        _f("region", "ref", "state", "territory", ref="regions", column="region_id"),
        _f("owner", "ref", *_OWNER, "account owner", "sr_id", ref="reps", column="owner_id"),
        _f("won_at", "date", "won date", "won_date", "customer since", "close date", "became a customer date",
           required=True),
        _f("churned_at", "date", "churn date", "churned", "cancelled date", "cancellation date"),
        _f("lead_type", "category", "lead type", "lead_type"),
        _f("behaviour_profile", "category", "behaviour profile", "behavior profile", "lead_behaviour_profile",
           "disc profile"),
        _f("business_type", "category", "business type", "business_type"),
        _f("declared_monthly_revenue", "number", "declared monthly revenue", "declared_monthly_revenue",
           "monthly revenue"),
    ), keys=("external_id", "lead", "merchant_name")),
    EntitySpec("usage", "customer_usage", "Usage (daily payments per customer)", (
        _f("customer", "ref", "customer", "customer id", "merchant", "account", "seller_id", ref="customers",
           column="customer_id", required=True),
        _f("day", "date", "date", "day", "usage date", required=True),
        _f("payment_count", "int", "payments", "transactions", "count", "payment count", required=True),
        _f("payment_volume", "number", "volume", "amount", "payment volume", "tpv", required=True),
    ), keys=("customer", "day"), key_columns=("customer_id", "day")),
)}

# Values other products (and people) write for our enumerations. Keys are normalised (see `norm_key`).
SYNONYMS: dict[str, dict[str, str | None]] = {
    "status": {
        "open": "new", "open_not_contacted": "new", "not_contacted": "new", "subscriber": "new", "lead": "new",
        "new_lead": "new", "attempted_to_contact": "mql", "working": "mql", "working_contacted": "mql",
        "contacted": "mql", "in_progress": "mql", "open_deal": "opportunity", "marketingqualifiedlead": "mql",
        "marketing_qualified_lead": "mql", "marketing_qualified": "mql", "salesqualifiedlead": "sql",
        "sales_qualified_lead": "sql", "sales_qualified": "sql", "qualified": "sql", "connected": "sql",
        "opportunity": "opportunity", "customer": "won", "closed_converted": "won", "converted": "won",
        "closed_won": "won", "closed_not_converted": "lost", "closed_lost": "lost", "bad_timing": "lost",
        "unqualified": "disqualified", "disqualified": "disqualified", "junk": "disqualified",
        "evangelist": "won", "other": None,
    },
    "interest_level": {"hot": "hot", "warm": "warm", "cold": "cold", "high": "hot", "medium": "warm",
                       "low": "cold", "a": "hot", "b": "warm", "c": "cold"},
    # A bare count ("1000") is not listed: counts go to their bucket, and 1,000 people are "201-1000".
    "company_size": {"1_10": "1-10", "11_50": "11-50", "51_200": "51-200", "201_1000": "201-1000",
                     "1000+": "1000+", "1000_plus": "1000+", "1001+": "1000+", "1001_plus": "1000+",
                     "micro": "1-10", "small": "11-50", "medium": "51-200", "large": "201-1000",
                     "enterprise": "1000+"},
    "title": {"sales_rep": "rep", "sales_representative": "rep", "representative": "rep",
              "account_executive": "closer", "ae": "closer", "sr": "closer", "sales_rep_closer": "closer",
              "closer": "closer", "sdr": "sdr", "bdr": "sdr", "sales_development_representative": "sdr",
              "business_development_representative": "sdr", "sales_manager": "manager", "team_lead": "manager",
              "manager": "manager", "head_of_sales": "manager"},
    "type": {"call": "call", "phone": "call", "phone_call": "call", "logged_call": "call", "calls": "call",
             "email": "email", "e_mail": "email", "mail": "email", "emails": "email", "logged_email": "email",
             "meeting": "meeting", "meetings": "meeting", "event": "meeting", "appointment": "meeting",
             "lunch": "meeting", "demo": "demo", "demonstration": "demo", "product_demo": "demo",
             "presentation": "demo"},
    "stage": {
        "prospecting": "discovery", "qualification": "discovery", "needs_analysis": "discovery",
        "appointmentscheduled": "discovery", "appointment_scheduled": "discovery", "qualifiedtobuy": "discovery",
        "qualified_to_buy": "discovery", "lead_in": "discovery", "contact_made": "discovery",
        # Pipedrive's default pipelines, old and new: Lead In / Qualified, Contact Made, Needs Defined
        # (or Demo Scheduled), Proposal Made, Negotiations Started.
        "qualified": "discovery", "needs_defined": "discovery", "needs_discovered": "discovery", "idea": "discovery",
        "proposal_presented": "proposal", "in_negotiation": "negotiation",
        "discovery": "discovery", "value_proposition": "proposal", "id_decision_makers": "proposal",
        "perception_analysis": "proposal", "proposal_price_quote": "proposal", "proposal": "proposal",
        "presentationscheduled": "proposal", "presentation_scheduled": "proposal",
        "decisionmakerboughtin": "proposal", "decision_maker_bought_in": "proposal",
        "demo_scheduled": "proposal", "proposal_made": "proposal", "negotiation_review": "negotiation",
        "negotiation": "negotiation", "contractsent": "negotiation", "contract_sent": "negotiation",
        "negotiations_started": "negotiation", "closed_won": "closed_won", "closedwon": "closed_won",
        "won": "closed_won", "closed_lost": "closed_lost", "closedlost": "closed_lost", "lost": "closed_lost",
    },
    "channel": {
        "organic_search": "organic_search", "seo": "organic_search", "organic": "organic_search",
        "paid_search": "paid_search", "ppc": "paid_search", "sem": "paid_search", "adwords": "paid_search",
        "google_ads": "paid_search", "email_marketing": "email", "email": "email", "e_mail": "email",
        "social_media": "social", "organic_social": "social", "paid_social": "social", "social": "social",
        "referrals": "referral", "referral": "referral", "partner_referral": "partner",
        "employee_referral": "referral", "external_referral": "referral", "word_of_mouth": "referral",
        "direct_traffic": "direct_traffic", "direct": "direct_traffic", "web": "direct_traffic",
        "website": "direct_traffic", "trade_show": "events", "event": "events", "events": "events",
        "seminar_internal": "events", "advertisement": "display", "display": "display", "partner": "partner",
        "offline_sources": "offline", "other_campaigns": "other_campaigns",
    },
}

BOOL_TRUE = ("true", "t", "yes", "y", "1", "x", "sim", "si", "on", "won", "active", "enabled", "checked")
BOOL_FALSE = ("false", "f", "no", "n", "0", "nao", "não", "off", "lost", "inactive", "disabled", "unchecked")
BOOL_NULL = ("open",)  # e.g. Pipedrive's deal status: neither won nor lost yet
NULL_TOKENS = ("", "null", "none", "n/a", "na", "#n/a", "nan", "-", "--", "(blank)", "nil")


def norm_key(value: str) -> str:
    """How enumeration values are compared: case, spacing and punctuation do not matter."""
    return re.sub(r"[^0-9a-z+]+", "_", value.strip().lower()).strip("_")


def norm_header(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", value.strip().lower()).strip()


@dataclass
class Source:
    """Where one field's value comes from: a column, a constant, or a template such as "SDR {sdr_id:8}"."""

    column: str | list[str] | None = None  # a list: the first of these columns that is not empty
    value: Any = None
    template: str | None = None
    formats: tuple[str, ...] = ()  # date formats, in strftime notation
    values: dict[str, Any] = field(default_factory=dict)  # extra synonyms: what the file says -> our value
    multiply: float | None = None
    only_new: bool = False  # fill the field only when the row makes a new record; never overwrite

    def to_yaml(self) -> Any:
        if isinstance(self.column, str) and not (self.formats or self.values or self.multiply or self.only_new):
            return self.column
        out: dict[str, Any] = {}
        for key in ("column", "value", "template"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.only_new:
            out["only_new"] = True
        if self.formats:
            out["formats"] = list(self.formats)
        if self.values:
            out["values"] = dict(self.values)
        if self.multiply is not None:
            out["multiply"] = self.multiply
        return out

    def columns(self) -> list[str]:
        if isinstance(self.column, list):
            return list(self.column)
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [name for _, name, _ in template_parts(self.template) if name is not None]
        return []


@dataclass
class Mapping:
    """How one file fills one entity."""

    entity: str
    fields: dict[str, Source] = field(default_factory=dict)
    on_duplicate: str = "merge"  # merge: fill the existing record from the row; skip: leave it as it is
    create_missing: bool = False  # create reps, teams and regions (and leads for deals) the store lacks
    accept_near_matches: bool = False  # resolve a name that almost matches to the known value
    dayfirst: bool | None = None  # 03/04/2024: None = decide from the data
    decimal: str = "auto"  # "." | "," | "auto"
    delimiter: str | None = None
    sheet: str | None = None

    @property
    def spec(self) -> EntitySpec:
        return ENTITIES[self.entity]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entity": self.entity, "on_duplicate": self.on_duplicate}
        if self.create_missing:
            out["create_missing"] = True
        if self.accept_near_matches:
            out["accept_near_matches"] = True
        options = {k: getattr(self, k) for k in ("dayfirst", "delimiter", "sheet") if getattr(self, k) is not None}
        if self.decimal != "auto":
            options["decimal"] = self.decimal
        if options:
            out["options"] = options
        out["fields"] = {name: src.to_yaml() for name, src in self.fields.items()}
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: Path | str) -> None:
        Path(path).write_text("# Flash Sales Dashboard import mapping\n" + self.to_yaml(), encoding="utf-8")


class MappingError(ValueError):
    """A mapping that cannot be used, with what to change."""


def entity_spec(name: str) -> EntitySpec:
    if name not in ENTITIES:
        raise MappingError(f"Unknown entity {name!r}; choose one of: {', '.join(ENTITIES)}.")
    return ENTITIES[name]


def _source(name: str, raw: Any) -> Source:
    if isinstance(raw, str):
        return Source(column=raw)
    if not isinstance(raw, dict):
        raise MappingError(f"Field {name!r}: give a column name or a table with column, value or template.")
    unknown = set(raw) - {"column", "value", "template", "default", "only_new", "formats", "values", "multiply"}
    if unknown:
        raise MappingError(f"Field {name!r}: unknown key(s) {', '.join(sorted(unknown))}; "
                           "use column, value, template, default, only_new, formats, values or multiply.")
    given = [k for k in ("column", "value", "template", "default") if k in raw]
    if len(given) != 1:
        raise MappingError(f"Field {name!r}: give exactly one of column, value, template or default.")
    if "template" in raw and not isinstance(raw["template"], str):
        raise MappingError(f"Field {name!r}: a template is text such as \"{{First Name}} {{Last Name}}\".")
    formats = raw.get("formats") or ()
    if isinstance(formats, str):
        formats = (formats,)
    if not isinstance(formats, (list, tuple)):
        raise MappingError(f"Field {name!r}: formats is a list of date formats such as ['%d/%m/%Y'].")
    values = raw.get("values") or {}
    if not isinstance(values, dict):
        raise MappingError(f"Field {name!r}: values must be a table of 'what the file says: our value'.")
    column = raw.get("column")
    if isinstance(column, list) and not (column and all(isinstance(c, str) for c in column)):
        raise MappingError(f"Field {name!r}: a column list must name at least one column.")
    if column is not None and not isinstance(column, (str, list)):
        column = str(column)
    multiply = raw.get("multiply")
    if multiply is not None and not isinstance(multiply, (int, float)):
        raise MappingError(f"Field {name!r}: multiply must be a number.")
    value = raw.get("default", raw.get("value"))  # default: X is value: X, only_new: true
    return Source(column=column, value=value, template=raw.get("template"),
                  only_new=bool(raw.get("only_new", False)) or "default" in raw,
                  formats=tuple(str(f) for f in formats), values={str(k): v for k, v in values.items()},
                  multiply=float(multiply) if multiply is not None else None)


MAPPING_KEYS = ("entity", "on_duplicate", "create_missing", "accept_near_matches", "options", "fields")
OPTION_KEYS = ("dayfirst", "decimal", "delimiter", "sheet")


def _flag(data: dict[str, Any], key: str, default: bool | None) -> bool | None:
    # yes/no would read as true whatever it says (bool("no") is True): only real booleans are taken.
    value = data.get(key, default)
    if value is not default and not isinstance(value, bool):
        raise MappingError(f"{key} must be true or false, not {value!r}.")
    return value


def from_dict(data: dict[str, Any]) -> Mapping:
    """A mapping from its YAML form, checked against the entity's fields."""
    if not isinstance(data, dict) or "entity" not in data:
        raise MappingError("A mapping needs `entity:` (one of " + ", ".join(ENTITIES) + ") and `fields:`.")
    # A misspelt key (on_duplicates: skip) would otherwise be ignored without a word.
    unknown_keys = [str(k) for k in data if k not in MAPPING_KEYS]
    if unknown_keys:
        raise MappingError(f"Unknown key(s) {', '.join(map(repr, unknown_keys))} in the mapping; "
                           f"a mapping has: {', '.join(MAPPING_KEYS)}.")
    spec = entity_spec(str(data["entity"]))
    fields_raw = data.get("fields") or {}
    if not isinstance(fields_raw, dict):
        raise MappingError("`fields:` must be a table of 'field: column'.")
    unknown = [k for k in fields_raw if k not in spec.field_names]
    if unknown:
        raise MappingError(f"{spec.name} has no field(s) {', '.join(map(repr, unknown))}; "
                           f"its fields are: {', '.join(spec.field_names)}.")
    on_dup = data.get("on_duplicate", "merge")
    if on_dup not in ON_DUPLICATE:
        raise MappingError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, not {on_dup!r}.")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise MappingError("`options:` must be a table such as {dayfirst: true, decimal: ','}.")
    unknown_options = [str(k) for k in options if k not in OPTION_KEYS]
    if unknown_options:
        raise MappingError(f"Unknown option(s) {', '.join(map(repr, unknown_options))}; "
                           f"options are: {', '.join(OPTION_KEYS)}.")
    decimal = str(options.get("decimal", "auto"))
    if decimal not in (".", ",", "auto"):
        raise MappingError("options.decimal must be '.', ',' or auto.")
    delimiter = options.get("delimiter")
    if delimiter is not None and not (isinstance(delimiter, str) and len(delimiter) == 1):
        raise MappingError(f"options.delimiter must be one character such as ';', not {delimiter!r}.")
    sheet = options.get("sheet")
    mapping = Mapping(
        entity=spec.name, fields={k: _source(k, v) for k, v in fields_raw.items()}, on_duplicate=on_dup,
        create_missing=bool(_flag(data, "create_missing", False)),
        accept_near_matches=bool(_flag(data, "accept_near_matches", False)),
        dayfirst=_flag(options, "dayfirst", None), decimal=decimal, delimiter=delimiter,
        sheet=None if sheet is None else str(sheet),
    )
    for name, src in mapping.fields.items():
        if src.template is not None:
            template_parts(src.template)  # raises on a malformed template
        if src.formats and spec.field(name).kind not in ("datetime", "date"):
            raise MappingError(f"Field {name!r} is not a date; formats do not apply to it.")
    return mapping


def load(path: Path | str) -> Mapping:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"There is no mapping file at {path}.") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a directory, unreadable, not text
        raise MappingError(f"The mapping file {path} cannot be read as text: {exc}") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"The mapping file {path} is not valid YAML: {exc}") from exc
    return from_dict(data)


def template_parts(template: str) -> list[tuple[str, str | None, int | None]]:
    """Split "SDR {sdr_id:8}" into (literal, column, first-n-characters) parts."""
    parts: list[tuple[str, str | None, int | None]] = []
    pos = 0
    for m in re.finditer(r"\{([^{}:]+)(?::(\d+))?\}", template):
        parts.append((template[pos:m.start()], m.group(1), int(m.group(2)) if m.group(2) else None))
        pos = m.end()
    tail = template[pos:]
    if "{" in tail or "}" in tail or not parts:
        raise MappingError(f"Template {template!r}: write columns as {{column}} or {{column:8}} (first 8 "
                           "characters).")
    parts.append((tail, None, None))
    return parts


def resolve_columns(mapping: Mapping, columns: list[str]) -> Mapping:
    """The mapping with each column it names spelt as the file spells it, when the two differ only in case,
    spacing or punctuation ("Deal Owner" for "Deal owner", "Email " for "Email"): exports of one product
    differ in such details between versions and locales. A name that matches no column, or several, is
    left for `check_columns` to report."""
    have = set(columns)
    by_norm: dict[str, list[str]] = {}
    for c in columns:
        by_norm.setdefault(norm_header(c), []).append(c)

    def spelt(name: str) -> str:
        found = by_norm.get(norm_header(name), [])
        # (a name with braces or a colon could not be written back into a template)
        ok = len(found) == 1 and not any(ch in found[0] for ch in "{}:")
        return found[0] if name not in have and ok else name

    fields = {}
    for key, src in mapping.fields.items():
        if isinstance(src.column, list):
            src = replace(src, column=[spelt(c) for c in src.column])
        elif src.column is not None:
            src = replace(src, column=spelt(src.column))
        elif src.template is not None:
            text = "".join(literal + ("" if col is None else "{" + spelt(col) + (f":{n}" if n else "") + "}")
                           for literal, col, n in template_parts(src.template))
            src = replace(src, template=text)
        fields[key] = src
    return replace(mapping, fields=fields)


def _listing(columns: list[str], most: int = 30) -> str:
    """Column names for a message: the first `most`, then how many more (a broken file can have 100,000)."""
    shown = ", ".join(repr(c[:60] + "…" if len(c) > 60 else c) for c in columns[:most]) or "(none)"
    return shown + (f" and {len(columns) - most:,} more" if len(columns) > most else "")


def check_columns(mapping: Mapping, columns: list[str]) -> None:
    """Every column the mapping names must be in the file."""
    have = set(columns)
    missing = sorted({c for src in mapping.fields.values() for c in src.columns() if c not in have})
    if missing:
        raise MappingError(
            f"The mapping names column(s) {', '.join(map(repr, missing))} that the file does not have. "
            f"The file's columns are: {_listing(columns)}. Fix the mapping or the header row."
        )


# -- suggestions

def _content_score(spec: FieldSpec, values: pl.Series) -> float:
    """How well a column's sample fits a field's kind, 0..1."""
    from flashdash import imports  # the parsers live with the import

    sample = values.drop_nulls()
    sample = sample.filter(~sample.str.strip_chars().str.to_lowercase().is_in(NULL_TOKENS))
    if sample.is_empty():
        return 0.0
    sample = sample.head(200)
    kind = spec.kind
    if kind == "email":
        return float(sample.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").mean() or 0)
    if kind in ("number", "int"):
        parsed = imports.parse_number(pl.DataFrame({"v": sample}), "v", "auto").to_series()
        return float(parsed.is_not_null().mean() or 0)
    if kind in ("datetime", "date"):
        frame = pl.DataFrame({"v": sample})
        fmts = imports.detect_formats(sample, None)[0]
        return float(frame.select(imports.parse_datetime_expr("v", fmts)).to_series().is_not_null().mean() or 0)
    if kind == "bool":
        return float(sample.str.strip_chars().str.to_lowercase().is_in(BOOL_TRUE + BOOL_FALSE).mean() or 0)
    if kind == "enum":
        known = set(spec.vocab) | set(SYNONYMS.get(spec.name, {}))
        fits = pl.Series([norm_key(v) in known or v.strip().lower() in known for v in sample])
        if spec.name == "company_size":  # exports give the number of employees, which is bucketed
            counts = imports.parse_number(pl.DataFrame({"v": sample}), "v", "auto").to_series()
            fits = fits | (counts >= 1).fill_null(False)
        return float(fits.mean() or 0)
    if kind == "category" and spec.name == "channel":
        return sum(norm_key(v) in SYNONYMS["channel"] for v in sample) / len(sample)
    return 0.5  # text and references: any content fits


FIRST_NAMES = ("first name", "firstname", "given name")
LAST_NAMES = ("last name", "lastname", "surname", "family name")
PERSON_FIELDS = {"leads": "contact_name", "reps": "name"}  # filled from first and last names when split


def suggest(entity: str, sample: pl.DataFrame) -> Mapping:
    """A mapping guessed from the file's column names and a sample of its content."""
    spec = entity_spec(entity)
    columns = [c for c in sample.columns if not c.startswith("_")]
    chosen: dict[str, Source] = {}
    used: set[str] = set()
    # CRMs export a person's name in two columns; "First Name" alone would fuzzily pass for the full name.
    first = next((c for c in columns if norm_header(c) in FIRST_NAMES), None)
    last = next((c for c in columns if norm_header(c) in LAST_NAMES), None)
    if first and last and not any(ch in first + last for ch in "{}:"):
        if spec.name in PERSON_FIELDS:
            chosen[PERSON_FIELDS[spec.name]] = Source(template=f"{{{first}}} {{{last}}}")
        used |= {first, last}
    scores: list[tuple[float, str, str]] = []
    for f in spec.fields:
        names = [norm_header(a) for a in (f.name, *f.aliases)]
        for col in columns:
            h = norm_header(col)
            if not h or col in used:
                continue
            if h in names:
                name_score = 1.0 if h == norm_header(f.name) else 0.95
            else:
                best = process.extractOne(h, names, scorer=fuzz.token_set_ratio)
                name_score = (best[1] / 100) * 0.8 if best and best[1] >= 85 else 0.0
            content = _content_score(f, sample[col])
            if f.kind in ("email", "number", "int", "datetime", "date", "bool", "enum") and content < 0.5:
                name_score *= 0.3  # the name says date, the cells do not
            # Without a name, only unmistakable content counts: a column of email addresses is the email
            # whatever its header says (and beats a text field whose name merely looks alike).
            weight = {"email": 0.9, "datetime": 0.6}.get(f.kind, 0.0)
            score = name_score + 0.3 * content if name_score else (weight * content if content >= 0.9 else 0.0)
            if score >= 0.5:
                scores.append((score, f.name, col))
    for _score, name, col in sorted(scores, key=lambda t: -t[0]):
        if name in chosen or col in used:
            continue
        chosen[name] = Source(column=col)
        used.add(col)
    ordered = {f.name: chosen[f.name] for f in spec.fields if f.name in chosen}
    return Mapping(entity=spec.name, fields=ordered)


# -- presets

@dataclass
class Step:
    """One file of a preset, imported into one entity."""

    file: str  # a file name or glob inside the preset's directory
    mapping: Mapping
    title: str = ""
    optional: bool = False  # a preset of several exports works with the ones the user has


@dataclass
class Preset:
    name: str
    title: str
    description: str
    steps: list[Step]


def presets() -> dict[str, Preset]:
    out = {}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        preset = load_preset(path)
        out[preset.name] = preset
    return out


def load_preset(path: Path) -> Preset:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = []
    for i, raw in enumerate(data.get("steps") or [], start=1):
        raw = dict(raw)
        file = raw.pop("file", None)
        if not file:
            raise MappingError(f"Preset {path.name}, step {i}: `file:` is required.")
        title = raw.pop("title", "")
        optional = bool(raw.pop("optional", False))
        steps.append(Step(file=file, mapping=from_dict(raw), title=title, optional=optional))
    return Preset(name=data.get("name") or path.stem, title=data.get("title", path.stem),
                  description=(data.get("description") or "").strip(), steps=steps)


def preset(name: str) -> Preset:
    found = presets()
    if name not in found:
        raise MappingError(f"There is no preset {name!r}; presets: {', '.join(found)}.")
    return found[name]


def with_options(mapping: Mapping, **changes: Any) -> Mapping:
    return replace(mapping, **changes)
