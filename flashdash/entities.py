"""SQLModel tables: the store's schema, one class per entity.

Integer keys draw from a named `Sequence` because DuckDB has no SERIAL. Bulk loaders (demo data,
imports) insert explicit ids and then advance the sequence with `store.advance_sequence`.
References (`*_id`) are not declared as foreign keys: DuckDB checks them so eagerly that updates and
erasures of referenced rows fail; the domain layer keeps references whole instead.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, Double, Integer, Sequence, text
from sqlmodel import Field, SQLModel

# Vocabularies shared by the generator, validation and the pages.
ROLES = ("rep", "manager", "analyst", "executive", "admin")
INTEREST_LEVELS = ("cold", "warm", "hot")
LEAD_STATUSES = ("new", "mql", "sql", "opportunity", "won", "lost", "disqualified")
FUNNEL_STAGES = ("new", "mql", "sql", "opportunity", "won")
ACTIVITY_TYPES = ("call", "email", "meeting", "demo")
OPPORTUNITY_STAGES = ("discovery", "proposal", "negotiation", "closed_won", "closed_lost")
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")


def _ts(**kw):
    # SQLModel maps datetime to TIMESTAMP WITH TIME ZONE; the store keeps naive local times.
    return Field(sa_type=DateTime(timezone=False), **kw)


def _pk(seq: str) -> Column:
    # The server default lets raw-SQL inserts (bulk loads, jobs) draw ids without naming the sequence.
    return Column(Integer, Sequence(seq), primary_key=True, server_default=text(f"nextval('{seq}')"))


def _money(**kw):
    # FLOAT is 32-bit in DuckDB: too few digits for money.
    return Field(sa_type=Double, **kw)


class Region(SQLModel, table=True):
    __tablename__ = "regions"
    id: int | None = Field(default=None, sa_column=_pk("regions_id_seq"))
    name: str = Field(unique=True)


class Territory(SQLModel, table=True):
    __tablename__ = "territories"
    id: int | None = Field(default=None, sa_column=_pk("territories_id_seq"))
    region_id: int = Field()
    name: str


class City(SQLModel, table=True):
    __tablename__ = "cities"
    id: int | None = Field(default=None, sa_column=_pk("cities_id_seq"))
    name: str
    region_id: int = Field()
    territory_id: int | None = Field(default=None)
    lat: float
    lon: float


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    id: int | None = Field(default=None, sa_column=_pk("teams_id_seq"))
    name: str = Field(unique=True)
    region_id: int | None = Field(default=None)
    manager_id: int | None = None  # reps.id of the team's manager


class Rep(SQLModel, table=True):
    """A person who sells: reps and their managers (title 'manager')."""

    __tablename__ = "reps"
    id: int | None = Field(default=None, sa_column=_pk("reps_id_seq"))
    external_id: str | None = Field(default=None, index=True)  # the id in the system it was imported from
    name: str
    email: str | None = None
    title: str = "rep"  # rep | manager | sdr | closer
    team_id: int | None = Field(default=None)
    manager_id: int | None = None
    region_id: int | None = Field(default=None)
    verticals: str | None = None  # comma-separated skills
    languages: str | None = None
    monthly_quota: float = _money(default=0.0)  # won revenue per month
    start_date: date | None = None
    active: bool = True
    max_open_leads: int | None = None  # assignment cap on open leads (None: no cap)
    working_days: str | None = None  # e.g. "mon,tue,wed,thu,fri"; None: Monday to Friday


class Lead(SQLModel, table=True):
    """A merchant's form submission and its life in the funnel."""

    __tablename__ = "leads"
    id: int | None = Field(default=None, sa_column=_pk("leads_id_seq"))
    external_id: str | None = Field(default=None, index=True)
    merchant_name: str | None = None
    contact_name: str | None = None
    email: str | None = None
    phone: str | None = None
    vertical: str | None = None
    company_size: str | None = None
    monthly_volume: float | None = _money(default=None)  # estimated monthly payment volume
    city: str | None = None
    region_id: int | None = Field(default=None)
    channel: str | None = None
    campaign: str | None = None
    landing_page: str | None = None
    interest_level: str | None = None
    submitted_at: datetime = _ts()
    first_response_at: datetime | None = _ts(default=None)
    owner_id: int | None = Field(default=None)
    status: str = "new"
    status_changed_at: datetime | None = _ts(default=None)
    language: str | None = None  # the merchant's language (en, es, ...), for skill-based routing
    do_not_contact: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # qualification: the merchant confirmed a budget (a server default: bulk inserts may leave it out)
    budget_confirmed: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    assigned_at: datetime | None = _ts(default=None)
    # Contact fields are stored sealed (flashdash.crypto); these keyed hashes find a lead by exact email or phone
    # without opening them, and the domain feeds the free-mail scoring rule.
    email_bidx: str | None = Field(default=None, index=True)
    phone_bidx: str | None = Field(default=None, index=True)
    email_domain: str | None = None


class LeadStageChange(SQLModel, table=True):
    __tablename__ = "lead_stage_changes"
    id: int | None = Field(default=None, sa_column=_pk("lead_stage_changes_id_seq"))
    lead_id: int = Field(index=True)
    from_status: str | None = None
    to_status: str
    changed_at: datetime = _ts()
    actor: str = "system"
    reason: str | None = None


class Activity(SQLModel, table=True):
    __tablename__ = "activities"
    id: int | None = Field(default=None, sa_column=_pk("activities_id_seq"))
    external_id: str | None = Field(default=None, index=True)
    lead_id: int = Field()
    rep_id: int | None = Field(default=None)
    type: str
    occurred_at: datetime = _ts()
    duration_min: int | None = None
    outcome: str | None = None
    notes: str | None = None
    next_step: str | None = None
    template_id: int | None = None  # the activity template that prefilled the form
    fields_typed: int | None = None  # fields the person typed (not prefilled): manual data entry, measured
    source: str | None = None  # form | queue | bulk | csv | sequence | import | demo
    notes_sensitive: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})  # sealed


class Opportunity(SQLModel, table=True):
    __tablename__ = "opportunities"
    id: int | None = Field(default=None, sa_column=_pk("opportunities_id_seq"))
    external_id: str | None = Field(default=None, index=True)
    name: str | None = None
    lead_id: int = Field()
    owner_id: int | None = Field(default=None)
    amount: float = _money()  # expected annual revenue
    stage: str
    created_at: datetime = _ts()
    expected_close: date | None = None
    closed_at: datetime | None = _ts(default=None)
    won: bool | None = None
    loss_reason: str | None = None
    win_reason: str | None = None  # why it was won, captured when it closes (as loss_reason is when it is lost)
    competitor: str | None = None  # who else the merchant weighed ("none" when nobody)
    discount_pct: float | None = Field(default=None, sa_type=Double)  # off list price, 0-100
    products: str | None = None  # comma-separated: payments, pos, payouts, invoicing, lending
    contacts: int | None = None  # people on the merchant's side engaged in the deal


class OpportunityChange(SQLModel, table=True):
    """A deal's stage, expected close or amount as it changed: stage durations and pushed close dates."""

    __tablename__ = "opportunity_changes"
    id: int | None = Field(default=None, sa_column=_pk("opportunity_changes_id_seq"))
    opportunity_id: int = Field(index=True)
    field: str  # stage | expected_close | amount
    from_value: str | None = None
    to_value: str | None = None
    changed_at: datetime = _ts()
    actor: str = "system"


class Scenario(SQLModel, table=True):
    """A saved what-if plan: its slider values and what they gave, to compare side by side."""

    __tablename__ = "scenarios"
    id: int | None = Field(default=None, sa_column=_pk("scenarios_id_seq"))
    title: str
    team_id: int | None = None  # None: the whole company
    created_by: str
    created_at: datetime = _ts()
    params: str  # JSON: win_rate, deal_size, cycle_length, lead_volume, headcount (multipliers)
    results: str | None = None  # JSON: the forecast and attainment they gave when saved


class AnalyticsRun(SQLModel, table=True):
    """A scheduled refresh's result (forecast, velocity, deal risk): the pages read the latest of each kind."""

    __tablename__ = "analytics_runs"
    id: int | None = Field(default=None, sa_column=_pk("analytics_runs_id_seq"))
    kind: str = Field(index=True)  # forecast | velocity | deal_risk
    as_of: datetime = _ts()
    computed_at: datetime = _ts()
    payload: str  # JSON


class DealRisk(SQLModel, table=True):
    """Each open deal's risk as the last deal-risk run left it (replaced whole by each run)."""

    __tablename__ = "deal_risks"
    opportunity_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    level: str  # low | medium | high
    score: float = Field(sa_type=Double)  # 0-1: the historical loss rate of deals with these signs
    reasons: str | None = None  # JSON list of the signs behind it
    computed_at: datetime = _ts()


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: int | None = Field(default=None, sa_column=_pk("customers_id_seq"))
    external_id: str | None = Field(default=None, index=True)
    lead_id: int | None = Field(default=None)
    merchant_name: str
    vertical: str | None = None
    region_id: int | None = Field(default=None)
    owner_id: int | None = Field(default=None)
    won_at: date
    churned_at: date | None = None
    # What the merchant declared when they signed (imported histories carry these).
    lead_type: str | None = None
    behaviour_profile: str | None = None
    business_type: str | None = None
    declared_monthly_revenue: float | None = _money(default=None)


class CustomerUsage(SQLModel, table=True):
    __tablename__ = "customer_usage"
    customer_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    payment_count: int
    payment_volume: float = _money()


class ImportRun(SQLModel, table=True):
    """One import of a file: who, when, what, with which mapping, and what it did."""

    __tablename__ = "imports"
    id: int | None = Field(default=None, sa_column=_pk("imports_id_seq"))
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(default=None)
    actor: str
    file_name: str
    file_sha256: str
    entity: str
    mapping: str  # YAML, with the formats that were resolved from the data
    rows_read: int = 0
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    quarantined: int = 0
    created: str | None = None  # JSON: rows created in other tables (reps, teams, leads, ...)
    status: str = "done"  # done | undone
    undone_at: datetime | None = _ts(default=None)
    undone_by: str | None = None


class ImportChange(SQLModel, table=True):
    """A row an import inserted or updated, with its before-image: what undo needs."""

    __tablename__ = "import_changes"
    id: int | None = Field(default=None, sa_column=_pk("import_changes_id_seq"))
    import_id: int = Field(index=True)
    table_name: str
    row_key: str  # JSON: the row's primary key
    action: str  # insert | update
    before: str | None = None  # JSON of the whole row before an update


class ImportQuarantine(SQLModel, table=True):
    """A row an import could not take, kept with its reason and its cells as read."""

    __tablename__ = "import_quarantine"
    id: int | None = Field(default=None, sa_column=_pk("import_quarantine_id_seq"))
    import_id: int = Field(index=True)
    row_number: int  # data row in the file, 1 = the first row after the header
    reason: str
    cells: str  # JSON object, column -> text as read


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, sa_column=_pk("users_id_seq"))
    username: str = Field(unique=True)
    name: str
    email: str | None = None
    password_hash: str
    role: str
    rep_id: int | None = Field(default=None)
    active: bool = True
    must_change_password: bool = False
    created_at: datetime = _ts()
    last_login_at: datetime | None = _ts(default=None)
    failed_logins: int | None = None  # failed sign-ins since the last good one (the lockout counts them)
    last_failed_login_at: datetime | None = _ts(default=None)
    locked_until: datetime | None = _ts(default=None)
    password_changed_at: datetime | None = _ts(default=None)


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, sa_column=_pk("audit_log_id_seq"))
    logged_at: datetime = _ts()
    actor: str
    action: str  # create | update | delete | login | ...
    entity: str
    entity_id: str | None = None
    before: str | None = None  # JSON
    after: str | None = None  # JSON
    reason: str | None = None
    # The hash chain (flashdash.audit): a record's place in it, the digest of its content, the previous record's
    # hash and its own; null until sealed. An erased subject's data is blanked (redacted_at) and the record keeps
    # its content hash, so the chain still verifies.
    seq: int | None = Field(default=None, sa_type=BigInteger)
    content_hash: str | None = None
    prev_hash: str | None = None
    hash: str | None = None
    redacted_at: datetime | None = _ts(default=None)


class ModelCard(SQLModel, table=True):
    """A trained model's evaluation, shown beside its output."""

    __tablename__ = "model_cards"
    id: int | None = Field(default=None, sa_column=_pk("model_cards_id_seq"))
    model: str = Field(index=True)
    trained_at: datetime = _ts()
    card: str  # JSON


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    id: int | None = Field(default=None, sa_column=_pk("job_runs_id_seq"))
    job: str
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(default=None)
    status: str  # running | ok | failed | interrupted
    rows_written: int | None = None
    error: str | None = None
    trigger: str | None = None  # schedule | start-up | requested | command
    requested_by: str | None = None  # the user who asked for the run
    pid: int | None = None  # the process that ran it (a 'running' row whose process is gone was interrupted)


class RepTerritory(SQLModel, table=True):
    """The territories a rep covers, for territory-based assignment."""

    __tablename__ = "rep_territories"
    rep_id: int = Field(primary_key=True)
    territory_id: int = Field(primary_key=True)


class ScoreRule(SQLModel, table=True):
    """A points rule of the rule-based lead score ("+20 if the vertical is in the target list")."""

    __tablename__ = "score_rules"
    id: int | None = Field(default=None, sa_column=_pk("score_rules_id_seq"))
    team_id: int | None = None  # None: every team
    label: str
    field: str  # a lead feature: vertical, channel, interest_level, email_domain, monthly_volume, ...
    op: str  # eq | ne | in | not_in | gte | lte | contains | is_set | is_missing
    value: str | None = None  # JSON
    points: float = Field(sa_type=Double)
    active: bool = True
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class QualificationCriterion(SQLModel, table=True):
    """What a lead needs to enter a stage, per team (None: the default for teams without their own)."""

    __tablename__ = "qualification_criteria"
    id: int | None = Field(default=None, sa_column=_pk("qualification_criteria_id_seq"))
    team_id: int | None = None
    stage: str  # mql | sql | opportunity
    conditions: str  # JSON list of {field, op, value}; all must hold
    auto: bool = True  # leads advance by themselves when they meet it
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class SavedView(SQLModel, table=True):
    """A named set of lead-list filters (stage, score band, age, owner, vertical, ...)."""

    __tablename__ = "saved_views"
    id: int | None = Field(default=None, sa_column=_pk("saved_views_id_seq"))
    owner: str  # username
    name: str
    filters: str  # JSON
    shared: bool = False  # visible to the owner's team
    created_at: datetime = _ts()


class AssignmentPolicy(SQLModel, table=True):
    """How a team's new leads are routed: strategies in order, with their settings."""

    __tablename__ = "assignment_policies"
    id: int | None = Field(default=None, sa_column=_pk("assignment_policies_id_seq"))
    team_id: int | None = None  # None: the default policy
    strategies: str  # JSON list, e.g. ["territory", "skills", "load", "weighted_round_robin"]
    settings: str | None = None  # JSON: weights window, caps, ...
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class LeadAssignment(SQLModel, table=True):
    """Each time a lead got an owner: to whom, by what, and why."""

    __tablename__ = "lead_assignments"
    id: int | None = Field(default=None, sa_column=_pk("lead_assignments_id_seq"))
    lead_id: int = Field(index=True)
    rep_id: int | None = None
    previous_rep_id: int | None = None
    assigned_at: datetime = _ts()
    strategy: str  # the strategy that decided, or "manual"
    reason: str
    actor: str


class Task(SQLModel, table=True):
    """A piece of follow-up work on a lead for a rep."""

    __tablename__ = "tasks"
    id: int | None = Field(default=None, sa_column=_pk("tasks_id_seq"))
    lead_id: int | None = Field(default=None, index=True)
    rep_id: int | None = None
    title: str
    due_at: datetime | None = _ts(default=None)
    status: str = "open"  # open | done | cancelled
    created_by: str
    created_at: datetime = _ts()
    done_at: datetime | None = _ts(default=None)
    notes: str | None = None
    kind: str | None = None  # call | email | meeting | demo | task: what doing it means
    rule_id: int | None = None  # the task rule that made it
    enrollment_id: int | None = None  # the sequence enrollment and step that made it
    step_id: int | None = None
    delegated_from: int | None = None  # the rep who handed it on
    reminded_at: datetime | None = _ts(default=None)  # when its reminder email went out


class ActivityTemplate(SQLModel, table=True):
    """A common motion (discovery call, product demo, pricing follow-up) that prefills the activity form."""

    __tablename__ = "activity_templates"
    id: int | None = Field(default=None, sa_column=_pk("activity_templates_id_seq"))
    team_id: int | None = None  # None: every team
    name: str
    type: str
    duration_min: int | None = None
    outcome: str | None = None
    notes: str | None = None
    next_step: str | None = None
    follow_up_days: int | None = None  # a follow-up task this many days later
    active: bool = True
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class TaskRule(SQLModel, table=True):
    """Creates a task when something happens: a lead enters a stage, an activity of a type is logged."""

    __tablename__ = "task_rules"
    id: int | None = Field(default=None, sa_column=_pk("task_rules_id_seq"))
    team_id: int | None = None
    trigger: str  # stage_entered | activity_logged
    value: str  # the stage, or the activity type
    title: str
    due_hours: int
    active: bool = True
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class EmailTemplate(SQLModel, table=True):
    __tablename__ = "email_templates"
    id: int | None = Field(default=None, sa_column=_pk("email_templates_id_seq"))
    team_id: int | None = None
    name: str
    subject: str  # Jinja2, sandboxed
    body: str  # Jinja2, sandboxed; plain text with links
    active: bool = True
    updated_by: str | None = None
    updated_at: datetime | None = _ts(default=None)


class SalesSequence(SQLModel, table=True):
    """A follow-up cadence: ordered steps (call, email, task) at day offsets."""

    __tablename__ = "sequences"
    id: int | None = Field(default=None, sa_column=_pk("sequences_id_seq"))
    team_id: int | None = None
    name: str
    description: str | None = None
    pause_on: str = "reply,stage_change,meeting"  # what pauses an enrollment by itself
    active: bool = True
    created_by: str | None = None
    created_at: datetime | None = _ts(default=None)


class SequenceStep(SQLModel, table=True):
    __tablename__ = "sequence_steps"
    id: int | None = Field(default=None, sa_column=_pk("sequence_steps_id_seq"))
    sequence_id: int = Field(index=True)
    position: int
    kind: str  # call | email | task
    day_offset: int  # days after enrollment
    title: str
    template_id: int | None = None  # the email template of an email step


class SequenceEnrollment(SQLModel, table=True):
    __tablename__ = "sequence_enrollments"
    id: int | None = Field(default=None, sa_column=_pk("sequence_enrollments_id_seq"))
    sequence_id: int = Field(index=True)
    lead_id: int = Field(index=True)
    rep_id: int | None = None
    enrolled_by: str
    enrolled_at: datetime = _ts()
    status: str = "active"  # active | paused | completed | stopped
    status_reason: str | None = None
    status_at: datetime | None = _ts(default=None)
    next_position: int = 1  # the next step to run
    next_due_at: datetime | None = _ts(default=None)


class SequenceStepRun(SQLModel, table=True):
    """A step of an enrollment that ran: the task or email it made, and how it ended."""

    __tablename__ = "sequence_step_runs"
    id: int | None = Field(default=None, sa_column=_pk("sequence_step_runs_id_seq"))
    enrollment_id: int = Field(index=True)
    step_id: int
    ran_at: datetime = _ts()
    task_id: int | None = None
    email_id: int | None = None
    outcome: str | None = None  # done | sent | opened | clicked | replied | skipped | failed


class Email(SQLModel, table=True):
    """An email to a lead: queued, sent over SMTP by the scheduler (retried), tracked."""

    __tablename__ = "emails"
    id: int | None = Field(default=None, sa_column=_pk("emails_id_seq"))
    lead_id: int = Field(index=True)
    rep_id: int | None = None
    template_id: int | None = None
    enrollment_id: int | None = None
    step_id: int | None = None
    to_address: str | None = None
    subject: str | None = None  # rendered when queued
    body: str | None = None
    token: str = Field(index=True)  # in the tracking pixel and links
    status: str = "queued"  # queued | sent | failed | suppressed
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(default=None)
    last_error: str | None = None
    queued_by: str
    queued_at: datetime = _ts()
    sent_at: datetime | None = _ts(default=None)
    message_id: str | None = None


class EmailEvent(SQLModel, table=True):
    __tablename__ = "email_events"
    id: int | None = Field(default=None, sa_column=_pk("email_events_id_seq"))
    email_id: int = Field(index=True)
    kind: str  # open | click | reply
    occurred_at: datetime = _ts()
    url: str | None = None


class LeadScore(SQLModel, table=True):
    """Each open lead's conversion score as the last scoring run left it (replaced whole by each run)."""

    __tablename__ = "lead_scores"
    lead_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    probability: float | None = Field(default=None, sa_type=Double)
    band: str
    raises: str | None = None
    lowers: str | None = None
    scored_by: str  # model | baseline rule | none
    card_id: int | None = None  # the model card whose model (or baseline) scored it
    scored_at: datetime = _ts()
    score: float | None = Field(default=None, sa_type=Double)  # 0-100: the blend of model and rules
    rule_points: float | None = Field(default=None, sa_type=Double)
    model_key: str | None = None  # which model scored it: "global" or "vertical:<name>"
    factors: str | None = None  # JSON list of {factor, points}: the score's breakdown, for its waterfall


class Setting(SQLModel, table=True):
    __tablename__ = "settings"
    key: str = Field(primary_key=True)
    value: str


class SchemaMigration(SQLModel, table=True):
    __tablename__ = "schema_migrations"
    version: int = Field(primary_key=True)
    description: str
    applied_at: datetime = _ts()
