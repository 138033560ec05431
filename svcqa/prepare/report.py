"""Tables and text lines that present slicing and clean-up plans and results (Prepare page and CLI).

Example
-------
>>> from svcqa.core.settings import Settings
>>> rows = [{"path": "a.wav", "flags": ["too_short"], "duration_s": 1.2},
...         {"path": "b.wav", "flags": [], "duration_s": 9.0}]
>>> choices = choices_frame(rows, Settings())
>>> list(choices["include"])
[False, True]
>>> choices.loc[0, "include"] = True
>>> overrides_from(choices)
{'a.wav': True}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from svcqa.core.settings import Settings
from svcqa.prepare.plan import PreparePlan, exclusion_reasons
from svcqa.prepare.slicer import Problem, SliceBatch, SlicePlan

if TYPE_CHECKING:  # pandas and the executor (scipy, pyloudnorm) load only for the tables
    import pandas as pd

    from svcqa.prepare.execute import PrepareResult

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
CHOICE_COLUMNS = ("include", "path", "flags", "excluded_by", "duration_s")
PLAN_COLUMNS = ("source", "include", "actions", "outputs", "why")


def choices_frame(rows: Sequence[Mapping[str, Any]], settings: Settings) -> pd.DataFrame:
    """Return one row per audited clip, sorted by path, for the per-clip include/exclude table.

    ``include`` starts as the flag-based decision; ``excluded_by`` names the flags behind an
    exclusion (empty for a clip used by default), which :func:`overrides_from` compares against.
    """
    import pandas as pd

    records = [
        {
            "include": not (reasons := exclusion_reasons(row, settings)),
            "path": str(row["path"]),
            "flags": " ".join(row.get("flags") or ()),
            "excluded_by": " ".join(reasons),
            "duration_s": row.get("duration_s"),
        }
        for row in sorted(rows, key=lambda row: str(row["path"]))
    ]
    return pd.DataFrame(records, columns=list(CHOICE_COLUMNS))


def overrides_from(choices: pd.DataFrame) -> dict[str, bool]:
    """Return path -> include for the rows of a (user-edited) :func:`choices_frame` that differ from the default."""
    default = choices["excluded_by"] == ""
    changed = choices["include"].astype(bool) != default
    return {
        str(path): bool(include)
        for path, include in zip(choices.loc[changed, "path"], choices.loc[changed, "include"], strict=True)
    }


def pieces_frame(plan: SlicePlan) -> pd.DataFrame:
    """Return one row per piece a slice plan keeps or drops: number, start, end and length in seconds."""
    import pandas as pd

    spans = [(piece, True) for piece in plan.pieces] + [(piece, False) for piece in plan.dropped]
    spans.sort(key=lambda item: item[0].start_s)
    return pd.DataFrame(
        [
            {
                "piece": number,
                "start_s": round(piece.start_s, 3),
                "end_s": round(piece.end_s, 3),
                "duration_s": round(piece.duration_s, 3),
                "kept": kept,
            }
            for number, (piece, kept) in enumerate(spans, start=1)
        ],
        columns=["piece", "start_s", "end_s", "duration_s", "kept"],
    )


def plan_frame(plan: PreparePlan) -> pd.DataFrame:
    """Return one row per source file: whether it is used, its actions, its outputs and why."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "source": entry.source,
                "include": entry.include,
                "actions": ", ".join(entry.actions),
                "outputs": ", ".join(o.name for o in entry.outputs),
                "why": _why(entry.include, entry.reasons, entry.overridden, entry.note),
            }
            for entry in plan.entries
        ],
        columns=list(PLAN_COLUMNS),
    )


def _why(include: bool, reasons: Sequence[str], overridden: bool, note: str) -> str:
    """Return the reason shown next to a plan entry."""
    parts = []
    if overridden:
        parts.append("your choice" + (f" (flagged {', '.join(reasons)})" if reasons else ""))
    elif not include:
        parts.append(f"flagged {', '.join(reasons)}")
    if note:
        parts.append(note)
    return "; ".join(parts)


def unsafe_output_names(plan: PreparePlan) -> list[str]:
    """Return the planned output names with characters so-vits-svc-fork may fail on (rename is off)."""
    return [o.name for e in plan.included for o in e.outputs if not _SAFE_NAME.fullmatch(o.name)]


def written_frame(result: PrepareResult) -> pd.DataFrame:
    """Return one row per clip a run wrote: output, source, length, loudness, peak, actions."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "output": r.output,
                "source": r.source,
                "duration_s": round(r.duration_s, 2),
                "lufs": r.lufs,
                "peak_dbfs": r.peak_dbfs,
                "actions": ", ".join(r.actions),
            }
            for r in result.written
        ],
        columns=["output", "source", "duration_s", "lufs", "peak_dbfs", "actions"],
    )


def problems_frame(problems: Sequence[Problem]) -> pd.DataFrame:
    """Return the problems as a two-column table (path, message)."""
    import pandas as pd

    return pd.DataFrame([p.to_dict() for p in problems], columns=["path", "message"])


def plan_lines(plan: PreparePlan) -> list[str]:
    """Return the plan as text: a summary line, then ``source -> actions -> outputs`` per file."""
    included = plan.included
    outputs = sum(len(e.outputs) for e in included)
    lines = [
        f"{len(plan.entries)} source files: {len(included)} used, making {outputs} clips in "
        f"dataset_raw/{plan.speaker}/; {len(plan.entries) - len(included)} excluded."
    ]
    for entry in plan.entries:
        why = _why(entry.include, entry.reasons, entry.overridden, entry.note)
        if entry.include:
            actions = ", ".join(entry.actions) or "copy"
            names = ", ".join(o.name for o in entry.outputs)
            lines.append(f"  {entry.source} -> {actions} -> {names}" + (f"  [{why}]" if why else ""))
        else:
            lines.append(f"  {entry.source}: excluded ({why})")
    return lines


def result_lines(result: PrepareResult) -> list[str]:
    """Return what a run did as text: counts, then each skipped file and conflict with its reason."""
    lines = [
        f"Wrote {len(result.written)} clips to {result.out_dir}; {len(result.unchanged)} already up to date; "
        f"{len(result.removed)} removed; {len(result.skipped)} skipped; {len(result.conflicts)} conflicts."
    ]
    lines += [f"  skipped {p.path}: {p.message}" for p in result.skipped]
    lines += [f"  conflict {p.path}: {p.message}" for p in result.conflicts]
    lines += [f"Manifest: {result.manifest_path}", f"Renames: {result.renames_path}"]
    return lines


def slice_lines(batch: SliceBatch) -> list[str]:
    """Return what slicing wrote as text: one line per source with its piece lengths, then problems."""
    lines = []
    for result in batch.results:
        name = (
            result.source.name
            if result.source == batch.source
            else result.source.relative_to(batch.source).as_posix()
        )
        count = len(result.outputs)
        text = f"{name}: {count} piece{'' if count == 1 else 's'}"
        if count:
            text += f" ({', '.join(f'{p.duration_s:.1f}' for p in result.plan.pieces)} s)"
        if result.plan.dropped:
            text += f"; {len(result.plan.dropped)} too short, dropped"
        lines.append(text)
    lines += [f"{p.path}: skipped: {p.message}" for p in batch.problems]
    written = sum(len(r.outputs) for r in batch.results)
    lines.append(f"Wrote {written} pieces from {len(batch.results)} files to {batch.out_dir}.")
    return lines
