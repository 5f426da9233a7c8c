"""Flash Sales Dashboard: page config, the login gate, and the navigation of the signed-in user's role."""

import streamlit as st

from flashdash.ui import auth
from flashdash.ui.store import store_errors_stop

st.set_page_config(page_title="Flash Sales Dashboard", page_icon=":material/bolt:", layout="wide")
with store_errors_stop():
    actor = auth.session_actor()
    if actor is None:
        st.navigation(auth.navigation(None), position="hidden")
        auth.login_page()
    page = st.navigation(auth.navigation(actor))
page.run()
