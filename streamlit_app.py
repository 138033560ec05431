"""svcqa dashboard entry point: navigation and the shared sidebar."""

from __future__ import annotations

import streamlit as st

from svcqa.ui.login import invited_session, require_login
from svcqa.ui.sidebar import workspace_sidebar

LISTEN_PAGE = {"title": "Listen", "icon": ":material/hearing:"}


def main() -> None:
    """Draw the app: Streamlit runs this file as ``__main__``."""
    st.set_page_config(page_title="svcqa", page_icon=":microphone:", layout="wide")
    if invited_session():
        # A vote-only link: the Listen page alone, no sidebar, no other page reachable by URL.
        st.navigation([st.Page("app_pages/listen.py", **LISTEN_PAGE, default=True)], position="hidden").run()
    else:
        require_login()
        pages = [
            st.Page("app_pages/dataset.py", title="Dataset", icon=":material/library_music:", default=True),
            st.Page("app_pages/prepare.py", title="Prepare", icon=":material/content_cut:"),
            st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("app_pages/render.py", title="Renders", icon=":material/graphic_eq:"),
            st.Page("app_pages/listen.py", **LISTEN_PAGE),
            st.Page("app_pages/cover.py", title="Cover", icon=":material/album:"),
        ]
        navigation = st.navigation(pages)
        workspace_sidebar()
        navigation.run()


# Only when Streamlit runs the script: imported elsewhere (a worker pool's start-up imports the
# parent's main script as __mp_main__) it must do nothing.
if __name__ == "__main__":
    main()
