"""Customers: active merchants and their payment usage today; health and expansion arrive later."""

import polars as pl
import streamlit as st

from flashdash import charts, work
from flashdash.filters import recorded
from flashdash.ui import components as ui
from flashdash.ui import roadmap
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

# Fields some imports bring (Olist's closed deals) and the demo data does not: shown only when filled.
OPTIONAL = ("lead_type", "behaviour_profile", "business_type", "declared_monthly_revenue")
USAGE = ("payments_90d", "volume_90d")


def _filled(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """`frame` less those of `columns` that are empty in every row."""
    return frame.drop([c for c in columns if c in frame.columns and frame[c].null_count() == frame.height])


actor = guard("customers")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Customers", filters, "payment usage in the period")
    roadmap.note("Customer health", "You can follow merchants' payment counts and volume.",
                 ["health scores", "churn risk with reasons", "expansion signals"])
    data = cached(work.customer_book, actor, filters)
    customers = _filled(data["customers"], OPTIONAL)
    if data["usage"].is_empty() and not customers.is_empty():
        # customers without payment usage (e.g. an import of won deals): list them, and say what is missing
        st.info("This data records no payment usage, so there are no volumes to chart." if "usage" not in
                cached(recorded) else "No payment usage in this period.", icon=":material/info:")
        st.caption(f"Customers, newest first (at most {work.LIST_LIMIT:,}).")
        ui.table(_filled(customers.drop(USAGE), ("churned_at",)), "customers", key="cust.table")
    elif data["usage"].is_empty():
        ui.empty("No customer usage in this period.")
    else:
        left, right = st.columns(2)
        with left:
            st.altair_chart(charts.trend(data["usage"], "week", "volume", title="Payment volume per week",
                                         fmt="$,.0f", y_title=None, area=True), width="stretch", key="cust.volume")
        with right:
            st.altair_chart(charts.trend(data["usage"], "week", "active_customers",
                                         title="Customers processing payments", y_title=None),
                            width="stretch", key="cust.active")
        st.caption("Customers by payment volume over the 90 days to the period's end.")
        ui.table(customers, "customers", key="cust.table")
