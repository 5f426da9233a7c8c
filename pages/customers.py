"""Customers: active merchants and their payment usage today; health and expansion arrive later."""

import streamlit as st

from flashdash import charts, work
from flashdash.ui import components as ui
from flashdash.ui import roadmap
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("customers")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Customers", filters, "payment usage in the period")
    roadmap.note("Customer health", "You can follow merchants' payment counts and volume.",
                 ["health scores", "churn risk with reasons", "expansion signals"])
    data = cached(work.customer_book, actor, filters)
    if data["usage"].is_empty():
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
        ui.table(data["customers"], "customers", key="cust.table")
