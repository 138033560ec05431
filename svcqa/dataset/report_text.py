"""The audit report as plain text lines for the terminal."""

from __future__ import annotations

from svcqa.dataset.run import AuditReport


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def summary_lines(report: AuditReport) -> list[str]:
    """Return a readable summary: headline numbers, flag counts, then each flagged file."""
    s = report.summary
    lines = [
        f"Dataset: {report.dataset}",
        f"  {s['clip_count']} audio files ({s['readable_count']} readable), "
        f"{_minutes(s['total_duration_s'])} of audio "
        f"({s['share_of_recommended'] * 100:.0f}% of the recommended {_minutes(s['recommended_total_s'])})",
        f"  {s['sweet_spot_share'] * 100:.0f}% of clips are in the 10-20 s sweet spot",
    ]
    if s["lufs"]["median"] is not None:
        lines.append(
            f"  loudness: median {s['lufs']['median']} LUFS, spread (p10-p90) {s['lufs']['spread']} LU"
        )
    for key in ("verdict",):
        if key in s:
            lines.append(f"  {key}: {s[key]}")
    if not s["flag_counts"]:
        lines.append("  No problems found.")
        return lines
    lines.append("  Flags: " + ", ".join(f"{code} x{n}" for code, n in s["flag_counts"].items()))
    lines.append("")
    for clip in report.clips:
        for flag in clip.flags:
            lines.append(f"{clip.measurement.path}: [{flag.code}] {flag.message} Fix: {flag.fix}")
    return lines
