"""``svcqa slice``, ``svcqa prepare`` and ``svcqa preprocess``: from recordings to training data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from svcqa.cli.common import EXIT_FAILED, echo_lines, workspace_option, write_json
from svcqa.core.errors import DatasetError, SvcqaError
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace


@click.command("slice")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--preset",
    "preset_name",
    default="default",
    show_default=True,
    help="Slicer parameters: 'default' (openvpi Audio Slicer) or 'tutorial' (min length 8000 ms).",
)
@click.option(
    "--json", "json_out", metavar="OUT", help="Write what was sliced as JSON to OUT (- for stdout)."
)
@workspace_option
def slice_command(
    source: Path, out_dir: Path, preset_name: str, json_out: str | None, workspace: Path | None
) -> None:
    """Slice the audio file IN, or every audio file under the folder IN, at its silences into OUT.

    Pieces are WAV files <name>_001.wav... between 2 and 25 s (the workspace's slicer settings);
    IN is only read. Exit 1 when no file could be sliced.
    """
    from svcqa.prepare.report import slice_lines
    from svcqa.prepare.slicer import check_settings, preset, slice_path

    saved = Workspace(workspace).load_settings() if workspace else Settings()
    try:
        settings = preset(preset_name, saved.slicer)
        check_settings(settings)
    except SvcqaError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        batch = slice_path(source, out_dir, settings, max_input_s=saved.limits.slice_max_s)
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    echo_lines(slice_lines(batch), json_out)
    if json_out:
        write_json(batch.to_dict(), json_out)
    if not batch.results:
        sys.exit(EXIT_FAILED)


@click.command("prepare")
@click.argument("workspace_dir", metavar="WORKSPACE", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--source",
    metavar="FOLDER",
    help="Recordings to prepare, relative to WORKSPACE or absolute (default: the only folder in recordings/).",
)
@click.option(
    "--speaker",
    metavar="NAME",
    help="Output folder dataset_raw/NAME/ (default: the source folder's name made safe).",
)
@click.option("--plan-only", is_flag=True, help="Print the plan and write nothing.")
@click.option(
    "--json",
    "json_out",
    metavar="OUT",
    help='Write {"plan": ..., "result": ...} as JSON to OUT (- for stdout); result is null with --plan-only.',
)
@click.option(
    "--voice/--no-voice", default=True, show_default=True, help="Pitch and speech-vs-singing analysis."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Audit worker processes (default: one per core).",
)
def prepare(
    workspace_dir: Path,
    source: str | None,
    speaker: str | None,
    plan_only: bool,
    json_out: str | None,
    voice: bool,
    workers: int | None,
) -> None:
    """Audit a speaker's recordings, plan the clean-up, print the plan and write dataset_raw/<speaker>/.

    Uses the workspace's settings (the Prepare page saves them). The recordings are only read;
    files that cannot be read are reported and skipped.
    """
    from svcqa.core.errors import WorkspaceError
    from svcqa.dataset.run import audit_dataset
    from svcqa.dataset.voice_analysis import voice_available
    from svcqa.prepare.execute import execute_plan
    from svcqa.prepare.plan import build_plan, check_speaker_name
    from svcqa.prepare.report import plan_lines, result_lines
    from svcqa.prepare.source import choose_source

    if not workspace_dir.is_dir():
        raise click.UsageError(f"Workspace {workspace_dir} does not exist.")
    ws = Workspace(workspace_dir).ensure_layout()
    try:
        source_dir, speaker = choose_source(ws, source, speaker)
    except WorkspaceError as exc:
        raise click.UsageError(str(exc)) from exc
    settings = ws.load_settings()
    try:
        check_speaker_name(speaker)
        report = audit_dataset(source_dir, settings, workers=workers, with_voice=voice_available(voice))
        plan = build_plan(source_dir, report.to_dict()["clips"], speaker, settings)
    except (DatasetError, WorkspaceError) as exc:
        raise click.UsageError(str(exc)) from exc
    echo_lines(plan_lines(plan), json_out)
    result = None if plan_only else execute_plan(plan, ws)
    if result is not None:
        echo_lines(result_lines(result), json_out)
    if json_out:
        write_json({"plan": plan.to_dict(), "result": result.to_dict() if result else None}, json_out)


@click.command("preprocess")
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--f0-method", default=None, help="Pitch tracker for pre-hubert (default: the workspace setting, 'auto')."
)
@click.option("--json", "json_out", metavar="OUT", help="Write the report as JSON to OUT (- for stdout).")
def preprocess(workspace: Path, f0_method: str | None, json_out: str | None) -> None:
    """Run so-vits-svc-fork's preprocessing (pre-resample, pre-config + svcqa's edits, pre-hubert)."""
    import dataclasses

    from svcqa.engines import svc

    ws = Workspace(workspace)
    if not ws.dataset_raw.is_dir():
        raise click.UsageError(f"{ws.root} has no dataset_raw/: prepare the dataset first.")
    train = ws.load_settings().train
    if f0_method:
        train = dataclasses.replace(train, f0_method=f0_method)
    report = svc.preprocess(ws, train, echo=lambda line: click.echo(line, err=json_out == "-"))
    if json_out:
        write_json(report.to_dict(), json_out)
    else:
        click.echo(
            f"Preprocessed {sum(report.clips_per_speaker.values())} clips with f0 method {report.f0_method}."
        )
