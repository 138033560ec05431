"""svcqa dashboard entry point: navigation and the shared sidebar."""

from __future__ import annotations

import streamlit as st

from svcqa.ui.sidebar import workspace_sidebar

st.set_page_config(page_title="svcqa", page_icon=":microphone:", layout="wide")

pages = [
    st.Page("pages/dataset.py", title="Dataset", icon=":material/library_music:", default=True),
]
navigation = st.navigation(pages)
workspace_sidebar()
navigation.run()
