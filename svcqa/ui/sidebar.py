"""The sidebar shared by every page: which workspace this session works in."""

from __future__ import annotations

import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.workspace import Workspace
from svcqa.ui import state


def workspace_sidebar() -> Workspace:
    """Draw the workspace switcher and return the workspace to use."""
    ws = state.current_workspace()
    if st.session_state.pop(state.WORKSPACE_CREATED, False):
        # The switcher still holds the workspace left: forget it, or it would switch straight back.
        st.session_state.pop("workspace_select", None)
    options = [str(p) for p in state.available_workspaces()]
    if str(ws.root) not in options:
        options.append(str(ws.root))
    with st.sidebar:
        st.caption("Workspace")
        chosen = st.selectbox(
            "Workspace",
            options,
            index=options.index(str(ws.root)),
            label_visibility="collapsed",
            key="workspace_select",
        )
        if chosen != str(ws.root):
            st.session_state[state.WORKSPACE_ROOT] = chosen
            st.rerun()
        with st.popover("New workspace"):
            name = st.text_input("Name", key="new_workspace_name", placeholder="my_voice")
            if st.button("Create", key="new_workspace_create") and name:
                try:
                    root = state.new_workspace_path(name)
                    Workspace(root).ensure_layout()
                except SvcqaError as exc:
                    st.error(str(exc))
                else:
                    st.session_state[state.WORKSPACE_ROOT] = str(root)
                    st.session_state[state.WORKSPACE_CREATED] = True
                    st.rerun()
    return ws
