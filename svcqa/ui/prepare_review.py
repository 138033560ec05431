"""The Prepare page's per-clip choices, bulk actions and plan, redrawn on their own (a fragment).

The user's choices are one mapping, path -> use the clip (:data:`~svcqa.ui.state.PREP_OVERRIDES`):
ticks in the include table and the bulk actions (every clip with a flag, every clip in a folder)
all change it, so a change reruns only this part of the page and answers in well under a second
at thousands of clips. The table's pending ticks are folded into the mapping whenever the rows
it shows change (a bulk action, another filter).

Example
-------
>>> import pandas as pd
>>> choices = pd.DataFrame({"include": [False, True], "path": ["a/x.wav", "b/y.wav"],
...                         "flags": ["noisy", ""], "excluded_by": ["noisy", ""], "duration_s": [3.0, 4.0]})
>>> folders_of(choices["path"])
['a', 'b']
>>> list(apply_choices(choices, {"a/x.wav": True})["include"])
[True, True]
>>> list(choice_mask(choices, "flagged noisy"))
[True, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.prepare import report as prepare_report
from svcqa.prepare.execute import execute_plan
from svcqa.prepare.plan import PreparePlan, build_plan
from svcqa.ui import state

ALL = "all clips"
SHOW_FIXED = (ALL, "used", "left out", "your choices")
PLAN_SHOW_FIXED = ("all files", "used", "left out", "your choices")
_PLAN_ACTIONS = ("slice", "mono", "resample", "normalise", "rename")


def folders_of(paths: Iterable[str]) -> list[str]:
    """Return every folder that holds clips (each level of nested folders), sorted."""
    found = {str(parent) for p in paths for parent in PurePosixPath(p).parents if str(parent) != "."}
    return sorted(found)


def apply_choices(choices: pd.DataFrame, overrides: Mapping[str, bool]) -> pd.DataFrame:
    """Return ``choices`` with ``include`` set from ``overrides`` where it has the clip."""
    out = choices.copy()
    out["include"] = [overrides.get(p, inc) for p, inc in zip(out["path"], out["include"], strict=True)]
    return out


def normalised(overrides: Mapping[str, bool], choices: pd.DataFrame) -> dict[str, bool]:
    """Return the overrides that differ from the flag-based default of their clip."""
    default = dict(zip(choices["path"], choices["excluded_by"] == "", strict=True))
    return {p: v for p, v in overrides.items() if p in default and v != default[p]}


def choice_mask(choices: pd.DataFrame, show: str, overrides: Mapping[str, bool] | None = None) -> pd.Series:
    """Return which rows of ``choices`` the filter ``show`` keeps.

    ``show`` is one of :data:`SHOW_FIXED`, ``flagged <code>`` or ``in <folder>``.
    """
    if show == "used":
        return choices["include"].astype(bool)
    if show == "left out":
        return ~choices["include"].astype(bool)
    if show == "your choices":
        return choices["path"].isin(set(overrides or {}))
    if show.startswith("flagged "):
        code = show.removeprefix("flagged ")
        return choices["flags"].map(lambda text: code in text.split())
    if show.startswith("in "):
        prefix = show.removeprefix("in ") + "/"
        return choices["path"].str.startswith(prefix)
    return pd.Series(True, index=choices.index)


def plan_mask(plan: pd.DataFrame, show: str) -> pd.Series:
    """Return which rows of a :func:`~svcqa.prepare.report.plan_frame` the filter ``show`` keeps."""
    if show == "used":
        return plan["include"].astype(bool)
    if show == "left out":
        return ~plan["include"].astype(bool)
    if show == "your choices":
        return plan["why"].str.contains("your choice", regex=False)
    if show in _PLAN_ACTIONS:
        return plan["actions"].map(lambda text: show in text.split(", "))
    return pd.Series(True, index=plan.index)


def _pending_edits() -> dict[str, bool]:
    """Return path -> include of the ticks the include table holds since it was last reset."""
    edits = (st.session_state.get(state.PREP_CHOICES) or {}).get("edited_rows") or {}
    paths = st.session_state.get(state.PREP_CHOICE_PATHS) or []
    return {
        paths[int(row)]: bool(change["include"])
        for row, change in edits.items()
        if "include" in change and int(row) < len(paths)
    }


def _fold_edits() -> None:
    """Move the table's pending ticks into the choices and reset the table (its rows change next)."""
    chosen = {**st.session_state.get(state.PREP_OVERRIDES, {}), **_pending_edits()}
    st.session_state[state.PREP_OVERRIDES] = chosen
    st.session_state.pop(state.PREP_CHOICES, None)


def _bulk(paths: list[str], include: bool) -> None:
    """Use (``include``) or leave out every clip of ``paths``."""
    _fold_edits()
    st.session_state[state.PREP_OVERRIDES].update(dict.fromkeys(paths, include))


@st.fragment
def review(
    ws: Workspace, rows: list[dict[str, Any]], settings: Settings, source_dir: Path, speaker: str
) -> None:
    """Draw the bulk actions, the include table, the plan and the button that runs it."""
    defaults = prepare_report.choices_frame(rows, settings)
    stored = normalised(st.session_state.get(state.PREP_OVERRIDES, {}), defaults)
    st.session_state[state.PREP_OVERRIDES] = stored
    choices = apply_choices(defaults, stored)
    _bulk_actions(choices)

    codes = sorted({code for text in choices["flags"] for code in text.split()})
    show_options = [
        *SHOW_FIXED,
        *(f"flagged {c}" for c in codes),
        *(f"in {f}" for f in folders_of(choices["path"])),
    ]
    if st.session_state.get(state.PREP_CHOICES_SHOW) not in show_options:
        st.session_state.pop(state.PREP_CHOICES_SHOW, None)
    show = st.selectbox("Show in the table", show_options, key=state.PREP_CHOICES_SHOW, on_change=_fold_edits)
    shown = choices[choice_mask(choices, show, stored)].reset_index(drop=True)
    st.session_state[state.PREP_CHOICE_PATHS] = shown["path"].tolist()
    st.caption(f"{len(shown):,} of {len(choices):,} clips shown; {int(choices['include'].sum()):,} used.")
    st.data_editor(
        shown,
        key=state.PREP_CHOICES,
        hide_index=True,
        width="stretch",
        height=min(36 + 35 * len(shown), 400),
        num_rows="fixed",
        disabled=[c for c in prepare_report.CHOICE_COLUMNS if c != "include"],
        column_config={
            "include": st.column_config.CheckboxColumn(
                "use", help="Tick to use a flagged clip, untick to leave one out."
            ),
            "excluded_by": st.column_config.TextColumn("excluded by"),
            "duration_s": st.column_config.NumberColumn("length (s)", format="%.2f"),
        },
    )
    overrides = normalised({**stored, **_pending_edits()}, defaults)

    st.subheader("3. Plan")
    try:
        plan = build_plan(source_dir, rows, speaker, settings, overrides=overrides)
    except SvcqaError as exc:
        st.error(str(exc))
        return
    _plan_table(plan)
    _run_button(ws, plan, settings)


def _bulk_actions(choices: pd.DataFrame) -> None:
    """Draw the bulk actions: use or leave out every clip with a flag, or every clip in a folder."""
    counts = {code: 0 for text in choices["flags"] for code in text.split()}
    for text in choices["flags"]:
        for code in text.split():
            counts[code] += 1
    folders = folders_of(choices["path"])
    targets = [("flag", state.PREP_BULK_FLAG, sorted(counts), lambda c: f"{c} ({counts[c]})", "flagged ")]
    if folders:
        targets.append(("folder", state.PREP_BULK_FOLDER, folders, str, "in "))
    for target, key, options, label, prefix in targets:
        left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
        picked = left.selectbox(
            "Every clip flagged" if target == "flag" else "Every clip in the folder",
            options,
            index=None,
            format_func=label,
            key=key,
            placeholder="choose a flag" if target == "flag" else "choose a folder",
        )
        paths = choices.loc[choice_mask(choices, f"{prefix}{picked}"), "path"].tolist() if picked else []
        middle.button(
            f"Leave out {len(paths)}" if picked else "Leave out",
            key=state.PREP_BULK_KEYS[f"exclude_{target}"],
            on_click=_bulk,
            args=(paths, False),
            disabled=not paths,
        )
        right.button(
            f"Use {len(paths)}" if picked else "Use",
            key=state.PREP_BULK_KEYS[f"include_{target}"],
            on_click=_bulk,
            args=(paths, True),
            disabled=not paths,
        )


def _plan_table(plan: PreparePlan) -> None:
    """Draw the plan's counts and its table, filtered by what happens to each file."""
    outputs = sum(len(e.outputs) for e in plan.included)
    m1, m2, m3 = st.columns(3)
    m1.metric("Source files used", len(plan.included), help=f"of {len(plan.entries)}")
    m2.metric("Clips to write", outputs)
    m3.metric("Excluded", len(plan.entries) - len(plan.included))
    frame = prepare_report.plan_frame(plan)
    counts = {show: int(plan_mask(frame, show).sum()) for show in (*PLAN_SHOW_FIXED, *_PLAN_ACTIONS)}
    options = [*PLAN_SHOW_FIXED, *(a for a in _PLAN_ACTIONS if counts[a])]
    show = st.segmented_control(
        "Show in the plan",
        options,
        default=options[0],
        format_func=lambda o: f"{o} ({counts[o]:,})",
        key=state.PREP_PLAN_SHOW,
    )
    shown = frame[plan_mask(frame, show or options[0])]
    st.caption(f"{len(shown):,} of {len(frame):,} source files shown.")
    st.dataframe(
        shown, hide_index=True, width="stretch", key="prep_plan", height=min(36 + 35 * len(shown), 400)
    )
    unsafe = prepare_report.unsafe_output_names(plan)
    if unsafe:
        st.warning(
            f"{len(unsafe)} output names have spaces or non-ASCII characters (for example `{unsafe[0]}`); "
            "so-vits-svc-fork may fail on them. Turn on renaming to safe ASCII names."
        )


def _run_button(ws: Workspace, plan: PreparePlan, settings: Settings) -> None:
    """Draw the button that writes the plan, and what the last run did."""
    out_dir = ws.dataset_raw / plan.speaker
    if out_dir.is_dir() and any(out_dir.iterdir()):
        st.caption(
            f"`{ws.relative(out_dir)}/` already has files: clips that are up to date stay untouched, "
            "and files svcqa did not write are never overwritten."
        )
    outputs = sum(len(e.outputs) for e in plan.included)
    if st.button(f"Prepare {outputs} clips", key=state.PREP_RUN, type="primary", disabled=not outputs):
        ws.save_settings(settings)
        run_bar = st.progress(0.0, text="Preparing...")
        try:
            st.session_state[state.PREP_RESULT] = execute_plan(
                plan, ws, progress=lambda f, m: run_bar.progress(min(f, 1.0), text=m)
            )
        except SvcqaError as exc:
            st.error(str(exc))
            run_bar.empty()
        else:
            # The whole page, not only this fragment: the preprocessing section below reads the
            # dataset_raw/ folder these clips were just written to.
            st.rerun(scope="app")
    result = st.session_state.get(state.PREP_RESULT)
    if result is None or result.out_dir != out_dir:
        return
    st.subheader("Last run")
    r1, r2, r3, r4, r5 = st.columns(5)
    r1.metric("Written", len(result.written))
    r2.metric("Unchanged", len(result.unchanged), help="Already up to date from an earlier run.")
    r3.metric("Removed", len(result.removed), help="Earlier outputs the plan no longer makes.")
    r4.metric("Skipped", len(result.skipped))
    r5.metric("Conflicts", len(result.conflicts), help="Files svcqa did not write, left alone.")
    if result.written:
        st.dataframe(
            prepare_report.written_frame(result), hide_index=True, width="stretch", key="prep_written"
        )
    for title, problems, key in (
        ("Skipped", result.skipped, "prep_skipped"),
        ("Conflicts", result.conflicts, "prep_conflicts"),
    ):
        if problems:
            st.warning(f"{title}: {len(problems)} file(s).")
            st.dataframe(prepare_report.problems_frame(problems), hide_index=True, width="stretch", key=key)
    st.caption(f"Manifest: `{result.manifest_path}` · Renames: `{result.renames_path}`")
    d1, d2 = st.columns(2)
    for column, path, mime, key in (
        (d1, result.manifest_path, "application/jsonl", state.PREP_DL_MANIFEST),
        (d2, result.renames_path, "text/csv", state.PREP_DL_RENAMES),
    ):
        if path.is_file():
            column.download_button(f"Download {path.name}", path.read_bytes(), path.name, mime, key=key)
