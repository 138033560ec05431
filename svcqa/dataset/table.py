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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection)."""


def csv_cell(value: Any) -> Any:
    """Return ``value`` safe for a spreadsheet: text starting like a formula gets a leading ``'``;
    numbers (a negative loudness) stay numbers.

    >>> csv_cell("=HYPERLINK(1)"), csv_cell("-rf.wav"), csv_cell("take.wav"), csv_cell(-20.5)
    ("'=HYPERLINK(1)", "'-rf.wav", 'take.wav', -20.5)
    """
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def to_csv(report: dict[str, Any]) -> bytes:
    """Return the report's clip table as UTF-8 CSV bytes, every text cell :func:`csv_cell`-safe."""
    frame = clips_frame(report)
    text_columns = frame.select_dtypes(exclude=["number", "bool"]).columns
    frame[text_columns] = frame[text_columns].map(csv_cell)
    return frame.to_csv(index=False).encode("utf-8")
