"""The audit report as a table (pandas) for display, filtering and CSV download."""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = (
    "path", "flags", "duration_s", "sample_rate", "channels", "lufs", "peak_dbfs",
    "kind", "singing_prob", "f0_p05_note", "f0_p95_note", "voice_similarity", "noise_floor_db", "dnsmos_bak",
    "dnsmos_sig", "problem", "error",
)  # fmt: skip


def clips_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Return one row per clip, flagged clips first: flags joined by spaces, problems, the numbers."""
    rows = []
    for clip in report["clips"]:
        row = {column: clip.get(column) for column in COLUMNS}
        row["flags"] = " ".join(clip["flags"])
        messages = clip.get("messages") or []
        row["problem"] = "; ".join(m["message"] for m in messages) or None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.dropna(axis="columns", how="all").astype({"path": str, "flags": str})
    order = frame.assign(_clean=frame["flags"] == "").sort_values(["_clean", "path"], kind="stable")
    return order.drop(columns="_clean").reset_index(drop=True)


def filter_clips(frame: pd.DataFrame, flags: list[str], search: str = "") -> pd.DataFrame:
    """Return the rows having any of ``flags`` (all rows when empty) whose path contains ``search``."""
    keep = pd.Series(True, index=frame.index)
    if flags:
        wanted = set(flags)
        keep &= frame["flags"].map(lambda text: bool(wanted & set(text.split())))
    if search:
        keep &= frame["path"].str.contains(search, case=False, regex=False)
    return frame[keep]


def to_csv(report: dict[str, Any]) -> bytes:
    """Return the report's clip table as UTF-8 CSV bytes."""
    return clips_frame(report).to_csv(index=False).encode("utf-8")
