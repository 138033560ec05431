"""Forms that edit the workspace settings (saved to ``.svcqa/settings.json``)."""

from __future__ import annotations

import streamlit as st

from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace


def audit_settings_form(ws: Workspace, settings: Settings) -> None:
    """Draw the audit thresholds; on submit save them and rerun."""
    a = settings.audit
    with st.form("audit_thresholds"):
        c1, c2, c3 = st.columns(3)
        min_s = c1.number_input("Shortest clip (s)", 0.0, 60.0, a.min_duration_s, 0.5, key="th_min_s")
        max_s = c2.number_input("Longest clip (s)", 1.0, 600.0, a.max_duration_s, 1.0)
        min_rate = c3.number_input("Lowest sample rate (Hz)", 8000, 192_000, a.min_sample_rate_hz, 1000)
        c4, c5, c6 = st.columns(3)
        quiet = c4.number_input("Too quiet below (LUFS)", -70.0, 0.0, a.too_quiet_lufs, 1.0)
        silent_share = c5.slider("Mostly silent above (share)", 0.0, 1.0, a.mostly_silent_share, 0.05)
        silence_db = c6.number_input("Silence below (dBFS)", -90.0, -10.0, a.silence_dbfs, 1.0)
        if st.form_submit_button("Save thresholds", key="th_save"):
            ws.save_settings(
                settings.with_section(
                    "audit",
                    min_duration_s=float(min_s),
                    max_duration_s=float(max_s),
                    min_sample_rate_hz=int(min_rate),
                    too_quiet_lufs=float(quiet),
                    mostly_silent_share=float(silent_share),
                    silence_dbfs=float(silence_db),
                )
            )
            st.rerun()
