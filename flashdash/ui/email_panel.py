"""The Activities page's Email tab: whether and how email leaves (SMTP), the template library with its editor
(managers, admins) and a preview against a real lead that flags every token the lead cannot fill, sending one
email now, the outbox, and open and click rates per template, sequence and rep for the period."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import clock, mail, org
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.sequences_panel import lead_label, lead_options
from flashdash.ui.store import cached, current_store, show_problem

WRITERS = mail.WRITERS
EDITORS = ("manager", "admin")
_FLASH = "act.mail.flash"
_NEW = "new"
STATUS_LABELS = {"queued": "queued", "sending": "sending", "sent": "sent", "failed": "failed",
                 "suppressed": "suppressed (not sent)"}
RATE_BY = {"template": "Template", "sequence": "Sequence", "rep": "Rep"}
LIBRARY_COLUMNS = {"changed": st.column_config.DatetimeColumn("changed", format="D MMM YYYY"),
                   "active": st.column_config.CheckboxColumn("on")}
TLS_LABELS = {"none": "no TLS", "starttls": "STARTTLS", "ssl": "SSL/TLS"}
# What a lead lacks when a token is empty: first_name comes from the contact's name.
FIELD_WORDS = {"first_name": "contact name", "contact_name": "contact name", "email": "email address",
               "monthly_volume": "monthly volume"}


def render(actor: Actor, filters: Filters) -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        st.success(flash, icon=":material/done:")
    sending_status()
    if actor.role in WRITERS:
        _templates(actor)
        _outbox(actor)
    else:
        st.subheader("Templates")
        ui.table(library_view(cached(mail.templates, actor)), "email_templates", key="act.mail.library",
                 column_config=LIBRARY_COLUMNS)
    _rates(actor, filters)


def _done(message: str) -> None:
    st.session_state[_FLASH] = message
    st.rerun()


def sending_status() -> None:
    """How email leaves, from the settings and secrets (never the password), or why it stays queued."""
    try:
        settings = mail.smtp_settings()
    except mail.MailError as exc:
        st.error(f"{exc} Emails stay queued until it is fixed.", icon=":material/mail_lock:")
        return
    if settings is None:
        st.info(mail.NOT_CONFIGURED, icon=":material/unsubscribe:")
        return
    who = f" (user {settings.user})" if settings.user else ""
    st.caption(f":material/outgoing_mail: Sending through {settings.host}:{settings.port} "
               f"({TLS_LABELS.get(settings.tls, settings.tls)}) as {settings.from_address}{who}. The scheduler sends "
               "queued email every few minutes and retries a failed attempt (after 1 min, 5 min, 30 min, then 2 h).")


# ---------------------------------------------------------------- templates


def library_view(templates: pl.DataFrame) -> pl.DataFrame:
    return templates.select(
        "name", pl.when(pl.col("source") == "starter").then(pl.lit("built in"))
        .otherwise(pl.col("team_name").fill_null("store-wide")).alias("for"),
        "subject", "active", pl.col("updated_by").alias("changed by"), pl.col("updated_at").alias("changed"))


def template_key(row: dict[str, Any]) -> str:
    return f"id:{row['id']}" if row["id"] is not None else f"starter:{row['name']}"


def _templates(actor: Actor) -> None:
    st.subheader("Templates")
    listed = cached(mail.templates, actor, actor.role in EDITORS)
    ui.table(library_view(listed), "email_templates", key="act.mail.library", column_config=LIBRARY_COLUMNS)
    if (listed["source"] == "starter").any():
        st.caption("The built-in templates are there until the store has store-wide ones of its own: send them as "
                   "they are, or (managers) save a copy for the team to change it. Sequence steps use stored "
                   "templates only.")
    rows = {template_key(r): r for r in listed.iter_rows(named=True)}
    options = ([_NEW] if actor.role in EDITORS else []) + list(rows)
    pick = st.selectbox("Template", options, key="act.mail.pick", index=1 if options[0] == _NEW and len(options) > 1 else 0,
                        format_func=lambda k: "A new template" if k == _NEW else _template_label(rows[k]))
    row = rows.get(pick)
    if actor.role in EDITORS:
        left, right = st.columns(2, gap="large")
        with left:
            _editor(actor, pick, row)
        with right:
            _preview_and_send(actor, row)
    else:
        _preview_and_send(actor, row)


def _template_label(row: dict[str, Any]) -> str:
    where = "built in" if row["source"] == "starter" else (row["team_name"] or "store-wide")
    return f"{row['name']} ({where}{'' if row['active'] else ', turned off'})"


def token_sheet() -> str:
    """The tokens a template may use, as markdown."""
    lead = ", ".join(f"`{{{{ lead.{f} }}}}`" for f in mail.LEAD_FIELDS)
    rep = ", ".join(f"`{{{{ rep.{f} }}}}`" for f in mail.REP_FIELDS)
    return (f"**The lead:** {lead}.  \n**The sending rep:** {rep} (`sender` is the same as `rep`).  \n"
            "`lead.first_name` is the first word of the contact's name. A token the lead has no value for is never "
            "sent blank: the preview flags it and the email is not sent to that lead. Jinja2 runs in a sandbox: "
            "`{% if lead.city %}…{% endif %}` works, reaching into Python does not.")


def _team_options(actor: Actor) -> dict[int | None, str]:
    teams = cached(org.filter_options, actor)["teams"]
    names: dict[int | None, str] = {None: "The whole store"} if actor.role == "admin" else {}
    names.update(dict(zip(teams["id"].to_list(), teams["name"].to_list(), strict=True)))
    return names


def _editor(actor: Actor, pick: str, row: dict[str, Any] | None) -> None:
    # A manager changes a store-wide (or built-in) template by saving a copy for the team.
    stored = row is not None and row["id"] is not None and (actor.role == "admin" or row["team_id"] is not None)
    st.markdown("**Edit**" if stored else ("**Save a copy for a team**" if row else "**New template**"))
    if row is not None and not stored:
        st.caption("Store-wide and built-in templates are changed by an admin; save a copy for your team to make it "
                   "your own.")
    teams = _team_options(actor)
    with st.form(f"act.mail.edit.{pick}"):
        name = st.text_input("Name", value=row["name"] if row else "", key=f"act.mail.edit.{pick}.name",
                             max_chars=mail.MAX_TEMPLATE_NAME, placeholder="e.g. Pricing follow-up")
        subject = st.text_input("Subject", value=row["subject"] if row else "", key=f"act.mail.edit.{pick}.subject",
                                max_chars=mail.MAX_SUBJECT)
        body = st.text_area("Body", value=row["body"] if row else "", key=f"act.mail.edit.{pick}.body", height=260)
        c1, c2 = st.columns([3, 1])
        if stored:
            team = row["team_id"]
            c1.caption(f"For {row['team_name'] or 'the whole store'}.")
        elif teams:
            team = c1.selectbox("For", list(teams), format_func=teams.get, key=f"act.mail.edit.{pick}.team")
        else:
            team = None
            c1.caption("You manage no team, so the template cannot be saved.")
        active = c2.toggle("On", value=row["active"] if row else True, key=f"act.mail.edit.{pick}.active")
        saved = st.form_submit_button("Save template", icon=":material/save:", type="primary")
    with st.expander("Tokens you can use"):
        st.markdown(token_sheet())
    if saved:
        try:
            mail.save_template(current_store(), actor, row["id"] if stored else None, name, subject, body, team,
                               active, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _done(f"Saved the template “{name.strip()}”.")


def missing_message(missing: list[str]) -> str:
    """The warning for tokens a lead cannot fill: what it lacks, which token, and that it is not sent."""
    parts = []
    for token in missing:
        owner, _, attr = token.partition(".")
        what = FIELD_WORDS.get(attr, attr.replace("_", " "))
        who = "this lead has no" if owner == "lead" else "the sending rep has no"
        parts.append(f"{who} {what}: `{{{{ {token} }}}}` cannot be filled")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + ". The email will not be sent to it until the lead or the template is fixed."


def _preview_and_send(actor: Actor, row: dict[str, Any] | None) -> None:
    st.markdown("**Preview against a real lead**")
    if row is None:
        st.caption("Save the template first, then preview it here.")
        return
    # Open leads first: they are the ones a person usually writes to.
    leads = lead_options(actor, False, clock.now()).sort(pl.col("status").is_in(["won", "lost", "disqualified"]),
                                                         maintain_order=True)
    if leads.is_empty():
        st.info("There is no lead in your book to preview with.", icon=":material/person_off:")
        return
    labels = {r["id"]: lead_label(r) for r in leads.iter_rows(named=True)}
    lead_id = st.selectbox(f"Lead ({len(labels):,} of your book, highest score first)", list(labels),
                           format_func=labels.get, key="act.mail.lead")
    try:
        shown = cached(mail.preview, actor, row["subject"], row["body"], lead_id)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    if shown["problems"]:
        st.error("The template cannot be used: " + "; ".join(shown["problems"]) + ".", icon=":material/block:")
    if shown["missing"]:
        st.warning(missing_message(shown["missing"]), icon=":material/warning:")
    if shown["blocked"]:
        st.warning(f"This lead gets no email: {shown['blocked']}.", icon=":material/unsubscribe:")
    with st.container(border=True, key="act.mail.preview"):
        st.markdown(f"**Subject:** {md_escape(shown['subject'])}")
        st.code(shown["body"], language=None, wrap_lines=True)  # as the plain-text part is sent
    if actor.role in WRITERS:
        _send(actor, row, lead_id, labels[lead_id])


def _send(actor: Actor, row: dict[str, Any], lead_id: int, label: str) -> None:
    if not st.button("Send now", key="act.mail.send", icon=":material/send:", type="primary",
                     help="Queues this email to the lead and logs it as an email activity; the scheduler sends it."):
        return
    template: int | tuple[str, str] = row["id"] if row["id"] is not None else (row["subject"], row["body"])
    try:
        email_id = mail.send_now(current_store(), actor, lead_id, template, clock.now())
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    try:
        configured = mail.smtp_settings() is not None
    except mail.MailError:
        configured = False
    _done(f"Queued email {email_id} (“{row['name']}”) to {label}, and logged it as an email activity. " +
          ("The scheduler sends it within a few minutes." if configured else
           "It stays queued until SMTP is configured."))


# ---------------------------------------------------------------- outbox


def outbox_view(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        pl.col("queued_at").alias("queued"), pl.col("merchant_name").alias("lead"), "lead_id",
        pl.col("contact_name").alias("contact"), pl.col("email").alias("to"), "subject", "template",
        pl.col("enrollment_id").is_not_null().alias("from a sequence"),
        pl.col("status").replace_strict(STATUS_LABELS, default=pl.col("status")).alias("status"),
        pl.col("reason").alias("why / next"), "attempts", pl.col("next_attempt_at").alias("next attempt"),
        pl.col("sent_at").alias("sent"), "opened", "clicked", "replied", "rep")


def _outbox(actor: Actor) -> None:
    st.subheader("Outbox")
    statuses = st.multiselect("Status", list(STATUS_LABELS), format_func=STATUS_LABELS.get, key="act.mail.outbox",
                              placeholder="Every status")
    rows = cached(mail.outbox, actor, 200, tuple(statuses))
    if rows.is_empty():
        st.info("No email " + (f"is {' or '.join(statuses)}" if statuses else "was queued in your book yet") +
                ". Emails appear here once they are sent from this tab or by a sequence's email step.",
                icon=":material/inbox:")
        return
    st.caption(f"The latest {rows.height:,} emails, newest first.")
    when = {c: st.column_config.DatetimeColumn(c, format="D MMM HH:mm") for c in ("queued", "next attempt", "sent")}
    ui.table(outbox_view(rows), "outbox", key="act.mail.outbox_table",
             column_config={**when, "lead_id": st.column_config.NumberColumn("lead id", format="%d")})


# ---------------------------------------------------------------- rates


def rates_chart(rates: pl.DataFrame, by: str) -> alt.Chart:
    """Open and click rate per group, side by side."""
    long = (rates.filter(pl.col("sent") > 0)
            .select("label", "sent", pl.col("open_rate").alias("open rate"), pl.col("click_rate").alias("click rate"))
            .unpivot(["open rate", "click rate"], index=["label", "sent"], variable_name="rate", value_name="value"))
    return (alt.Chart(long, title=f"Open and click rate by {by}")
            .mark_bar(cornerRadiusEnd=3)
            .encode(y=alt.Y("label:N", title=None, sort="-x"), x=alt.X("value:Q", title=None, axis=alt.Axis(format="%")),
                    yOffset="rate:N", color=alt.Color("rate:N", title=None, legend=alt.Legend(orient="top")),
                    tooltip=["label:N", "rate:N", alt.Tooltip("value:Q", format=".1%"), "sent:Q"]))


def _rates(actor: Actor, filters: Filters) -> None:
    st.subheader("Open and click rates")
    by = st.segmented_control("By", list(RATE_BY), format_func=RATE_BY.get, default="template",
                              key="act.mail.rates.by") or "template"
    rates = cached(mail.rates, actor, filters.start, filters.end, by)
    st.caption("Emails sent in the period (the sidebar's dates); opens and clicks whenever they came. An open is "
               "seen through a tracking pixel, so mail clients that block images hide some opens (a click counts as "
               "an open too): the open rate is a lower bound. Some clients fetch every image or check every link "
               "by themselves, which can count opens and clicks nobody made.")
    if rates.is_empty() or not rates["sent"].sum():
        ui.empty("No email was sent in the period.")
        return
    shown = rates.select(pl.col("label").alias(by), "sent", "opened", "clicked", "replied", "open_rate",
                         "click_rate", "reply_rate")
    ui.table(shown, f"email_rates_by_{by}", key="act.mail.rates", column_config={
        c: st.column_config.NumberColumn(c.replace("_", " "), format="percent")
        for c in ("open_rate", "click_rate", "reply_rate")})
    ui.chart(rates_chart(rates, by), key="act.mail.rates_chart")
