"""``python -m svcqa``: every core capability without the browser, with ``--json`` for scripts.

Exit codes: 0 when the command ran (whatever it found), 1 when it could not do its work,
2 on bad arguments.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from svcqa.core.errors import DatasetError, SvcqaError
from svcqa.core.settings import TRAIN_PRECISIONS, Settings
from svcqa.core.workspace import ENV_VAR, Workspace, default_root

EXIT_FAILED = 1
EXIT_BAD_ARGS = 2
_SHOWN_NAME_CHARS = 120


def write_json(data: Any, out: str) -> None:
    """Write ``data`` as JSON to the file ``out`` (``-`` for standard output)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    if out == "-":
        click.echo(text)
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _workspace_option(func: Any) -> Any:
    return click.option(
        "--workspace",
        "-w",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Workspace folder (default: ${ENV_VAR} or ./workspace).",
    )(func)


def _os_error_message(exc: OSError) -> str:
    """Return an OS error as one short line: the reason and the file it concerns (shortened)."""
    name = exc.filename if exc.filename is not None else ""
    shown = str(name) if len(str(name)) <= _SHOWN_NAME_CHARS else f"{str(name)[:_SHOWN_NAME_CHARS]}..."
    reason = exc.strerror or str(exc)
    return f"{reason}: {shown}" if shown else reason


class _Commands(click.Group):
    """The command group: refuses NUL bytes in arguments and turns OS errors into one-line messages.

    A file name with a NUL byte cannot exist; a name too long, a folder without permission or
    a full disk are the user's to fix, so they end the command with the reason, not a traceback.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any("\x00" in arg for arg in args):
            raise click.UsageError("An argument holds a NUL byte; no file name can contain one.", ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            raise click.ClickException(_os_error_message(exc)) from exc


@click.group(
    cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
def main() -> None:
    """svcqa: check, prepare, train, compare and mix so-vits-svc voice models."""


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "json_out", metavar="OUT", help="Write the full report as JSON to OUT (- for stdout).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--no-cache", is_flag=True, help="Measure every file again instead of reusing cached results.")
@click.option("--voice/--no-voice", default=True, show_default=True, help="Pitch and speech-vs-singing analysis.")
@_workspace_option
def audit(
    dataset_dir: Path,
    json_out: str | None,
    workers: int | None,
    no_cache: bool,
    voice: bool,
    workspace: Path | None,
) -> None:
    """Audit the audio files under DATASET_DIR (recursively); the folder is never written."""
    from svcqa.dataset.report_text import summary_lines
    from svcqa.dataset.run import audit_dataset

    settings = Workspace(workspace).load_settings() if workspace else None
    try:
        report = audit_dataset(
            dataset_dir, settings, workers=workers, use_cache=not no_cache, with_voice=_voice_available(voice)
        )
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    if json_out != "-":
        for line in summary_lines(report):
            click.echo(line)
    if json_out:
        write_json(report.to_dict(), json_out)


def _voice_available(requested: bool) -> bool:
    """Return whether pitch analysis can run (the module arrives with the pitch issue)."""
    if not requested:
        return False
    try:
        import svcqa.dataset.voice_kind  # noqa: F401
    except ImportError:
        return False
    return True


@main.command()
@click.argument("song", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--against", "dataset_dir", required=True, type=click.Path(path_type=Path), help="Dataset folder to compare with.")
@click.option("--json", "json_out", metavar="OUT", help="Write the check as JSON to OUT (- for stdout).")
@_workspace_option
def pitch(song: Path, dataset_dir: Path, json_out: str | None, workspace: Path | None) -> None:
    """Check which notes of SONG's vocals the dataset does not cover, and suggest a transpose."""
    from svcqa.core.errors import AudioError
    from svcqa.dataset.dataset_voice import check_song
    from svcqa.dataset.run import audit_dataset

    settings = Workspace(workspace).load_settings() if workspace else None
    try:
        report = audit_dataset(dataset_dir, settings, with_voice=True)
        result = check_song(song, [(c.measurement, c.codes) for c in report.clips], (settings or Settings()).pitch)
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    except AudioError as exc:
        raise click.UsageError(f"{song}: {exc}") from exc
    data = result.to_dict()
    if json_out != "-":
        shift = data["suggested_transpose"]
        click.echo(f"Song notes the dataset covers thinly: {', '.join(data['uncovered_notes']) or 'none'}")
        click.echo(f"  {data['uncovered_s']} s of the song on those notes")
        if shift:
            click.echo(f"  Suggested transpose: {shift:+d} semitones ({data['transposed_uncovered_s']} s left uncovered)")
        else:
            click.echo("  No transpose needed." if not data["uncovered_midi"] else "  No transpose helps: record those notes.")
    if json_out:
        write_json(data, json_out)


@main.command()
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--with-model",
    is_flag=True,
    help="Also prepare, preprocess and train a tiny toy model on the CPU (minutes, offline).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=2),
    default=None,
    help="Training steps of the toy model with --with-model (default: a few hundred).",
)
def demo(workspace: Path | None, with_model: bool, steps: int | None) -> None:
    """Create the demo workspace (a generated singer with planted problems) in WORKSPACE."""
    from svcqa.demo.singer import create_demo

    ws = Workspace(workspace or default_root())
    folder = create_demo(ws, progress=lambda _f, msg: click.echo(msg, err=True))
    click.echo(f"Demo recordings in {folder}")
    if with_model:
        from svcqa.demo.model import DEFAULT_STEPS, build_demo_model

        model = build_demo_model(ws, steps or DEFAULT_STEPS, echo=lambda line: click.echo(line, err=True))
        click.echo(
            f"Demo model trained to step {model.final_step} ({model.clips} clips): checkpoints in "
            f"{ws.logs_44k} and {ws.archive_dir}. Its voice is a toy."
        )


@main.command()
@_workspace_option
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--public", is_flag=True, help="Listen on all interfaces (requires a password).")
@click.option("--no-demo", is_flag=True, help="Do not create the demo speaker in an empty workspace.")
def serve(workspace: Path | None, port: int, public: bool, no_demo: bool) -> None:
    """Start the dashboard on 127.0.0.1 (creating the demo workspace when it is empty)."""
    from svcqa.cli.serve import serve_app

    try:
        code = serve_app(Workspace(workspace or default_root()), port=port, public=public, demo=not no_demo)
    except SvcqaError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.group()
def password() -> None:
    """Manage the password that public mode (serve --public) requires."""


@password.command("set")
@_workspace_option
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from standard input.")
def password_set(workspace: Path | None, from_stdin: bool) -> None:
    """Store a salted hash of a new password in the workspace (never the password itself)."""
    from svcqa.core.auth import set_password

    ws = Workspace(workspace or default_root()).ensure_layout()
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    set_password(ws.auth_path, secret)
    click.echo(f"Password set for {ws.root}; start with: python -m svcqa serve --public --workspace {ws.root}")


def _echo_lines(lines: list[str], json_out: str | None) -> None:
    """Print ``lines`` to stdout, or to stderr when the JSON goes to stdout."""
    for line in lines:
        click.echo(line, err=json_out == "-")


@main.command("slice")
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
@_workspace_option
def slice_command(
    source: Path, out_dir: Path, preset_name: str, json_out: str | None, workspace: Path | None
) -> None:
    """Slice the audio file IN, or every audio file under the folder IN, at its silences into OUT.

    Pieces are WAV files <name>_001.wav... between 2 and 25 s (the workspace's slicer settings);
    IN is only read. Exit 1 when no file could be sliced.
    """
    from svcqa.prepare.report import slice_lines
    from svcqa.prepare.slicer import check_settings, preset, slice_path

    base = Workspace(workspace).load_settings().slicer if workspace else None
    try:
        settings = preset(preset_name, base)
        check_settings(settings)
    except SvcqaError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        batch = slice_path(source, out_dir, settings)
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    _echo_lines(slice_lines(batch), json_out)
    if json_out:
        write_json(batch.to_dict(), json_out)
    if not batch.results:
        sys.exit(EXIT_FAILED)


@main.command()
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
    from svcqa.prepare.plan import (
        build_plan,
        check_speaker_name,
        execute_plan,
        safe_speaker_name,
        source_folders,
    )
    from svcqa.prepare.report import plan_lines, result_lines

    if not workspace_dir.is_dir():
        raise click.UsageError(f"Workspace {workspace_dir} does not exist.")
    ws = Workspace(workspace_dir).ensure_layout()
    if source is None:
        found = source_folders(ws)
        if len(found) != 1:
            listed = ", ".join(f"recordings/{name}" for name in found) or "none"
            raise click.UsageError(
                f"Choose the recordings with --source (speaker folders with audio: {listed}). "
                f"Recordings go in {ws.recordings}/<speaker>/."
            )
        source_dir = ws.recordings / found[0]
    else:
        source_dir = Path(source) if Path(source).is_absolute() else ws.root / source
    speaker = speaker or safe_speaker_name(source_dir.name)
    settings = ws.load_settings()
    try:
        check_speaker_name(speaker)
        report = audit_dataset(source_dir, settings, workers=workers, with_voice=_voice_available(voice))
        plan = build_plan(source_dir, report.to_dict()["clips"], speaker, settings)
    except (DatasetError, WorkspaceError) as exc:
        raise click.UsageError(str(exc)) from exc
    _echo_lines(plan_lines(plan), json_out)
    result = None if plan_only else execute_plan(plan, ws)
    if result is not None:
        _echo_lines(result_lines(result), json_out)
    if json_out:
        write_json({"plan": plan.to_dict(), "result": result.to_dict() if result else None}, json_out)


def _stage_list(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Return the stages of a ``--stages`` value (comma-separated; ``none`` for no stage)."""
    from svcqa.engines.separation import STAGES

    if text is None:
        return default
    if text.strip().lower() == "none":
        return ()
    stages = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise click.UsageError(f"Unknown stage(s) {', '.join(unknown)}; use {','.join(STAGES)} or none.")
    return stages


def _separation_options(func: Any) -> Any:
    for stage in ("karaoke", "dereverb", "vocals"):
        func = click.option(
            f"--{stage}-model",
            metavar="FILE",
            default=None,
            help=f"audio-separator model file of the {stage} stage (default: the workspace's settings).",
        )(func)
    func = click.option(
        "--download/--no-download",
        default=None,
        help="Let audio-separator download missing model files (needs network; default: the settings').",
    )(func)
    return click.option(
        "--stages",
        metavar="LIST",
        default=None,
        help="Separation stages, comma-separated, from vocals,dereverb,karaoke (default: the settings').",
    )(func)


def _separation_settings(
    base: Any, stages: str | None, download: bool | None, models: dict[str, str | None]
) -> Any:
    import dataclasses

    changes: dict[str, Any] = {f"{stage}_model": name for stage, name in models.items() if name}
    if download is not None:
        changes["allow_download"] = download
    return dataclasses.replace(base, stages=_stage_list(stages, base.stages), **changes)


@main.command()
@click.argument("song", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the stems (created if missing).")
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="audio-separator model folder (default: the workspace's models/separation; AUDIO_SEPARATOR_MODEL_DIR overrides both).",
)
@_separation_options
@click.option("--json", "json_out", metavar="OUT", help="Write the stems as JSON to OUT (- for stdout).")
@_workspace_option
def separate(
    song: Path,
    out_dir: Path,
    model_dir: Path | None,
    stages: str | None,
    download: bool | None,
    vocals_model: str | None,
    dereverb_model: str | None,
    karaoke_model: str | None,
    json_out: str | None,
    workspace: Path | None,
) -> None:
    """Split SONG into vocals and instrumental, then de-reverb and remove backing vocals.

    Each stage writes two stems, <song>_<stage>_<stem>.wav, into OUT; SONG is only read. A
    missing model (offline) fails with exit 1, naming the files and the folder they go in.
    """
    from svcqa.core.errors import AudioError
    from svcqa.engines.separation import separate as separate_song

    ws = Workspace(workspace or default_root())
    settings = _separation_settings(
        ws.load_settings().separation,
        stages,
        download,
        {"vocals": vocals_model, "dereverb": dereverb_model, "karaoke": karaoke_model},
    )
    if not settings.stages:
        raise click.UsageError("Choose at least one stage with --stages.")
    try:
        result = separate_song(
            song,
            out_dir,
            model_dir or ws.separation_models,
            settings,
            progress=lambda fraction, message: click.echo(f"{fraction:4.0%} {message}", err=True),
        )
    except AudioError as exc:
        raise click.UsageError(str(exc)) from exc
    lines = [f"{s.stage}: {Path(s.kept.path).name} (kept), {Path(s.removed.path).name}" for s in result.stages]
    _echo_lines([*lines, f"Vocals for conversion: {result.vocals.path}"], json_out)
    if json_out:
        write_json(result.to_dict(), json_out)


@main.command("mix")
@click.option("--vocals", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The (converted) vocals.")
@click.option("--instrumental", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The accompaniment.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The mix: .wav, .flac or .mp3.")
@click.option("--balance-db", type=float, default=None, help="Vocals' loudness minus the accompaniment's in LU (default: the settings', 0).")
@click.option("--lufs", type=float, default=None, help="Integrated loudness of the mix (default: the settings', -14).")
@click.option("--ceiling-dbtp", type=float, default=None, help="True-peak ceiling in dBTP (default: the settings', -1).")
@click.option("--offset-ms", type=float, default=None, help="Delay of the vocals in ms; negative cuts their start (default: 0).")
@click.option("--vocal-chain/--no-vocal-chain", default=None, help="High-pass, compressor, de-esser-like EQ and reverb on the vocals.")
@click.option("--json", "json_out", metavar="OUT", help="Write what was measured as JSON to OUT (- for stdout).")
@_workspace_option
def mix_command(
    vocals: Path,
    instrumental: Path,
    out: Path,
    balance_db: float | None,
    lufs: float | None,
    ceiling_dbtp: float | None,
    offset_ms: float | None,
    vocal_chain: bool | None,
    json_out: str | None,
    workspace: Path | None,
) -> None:
    """Mix VOCALS over INSTRUMENTAL at a loudness target, never over the true-peak ceiling.

    Any sample rates, mono or stereo, any lengths; the inputs are only read.
    """
    import dataclasses

    from svcqa.core.errors import AudioError
    from svcqa.cover.mixing import MIX_FORMATS, mix

    if out.suffix.lower() not in MIX_FORMATS:
        raise click.UsageError(f"--out must end in {', '.join(MIX_FORMATS)}.")
    base = Workspace(workspace).load_settings().mix if workspace else Settings().mix
    changes = {
        name: value
        for name, value in (
            ("balance_db", balance_db),
            ("target_lufs", lufs),
            ("true_peak_ceiling_dbtp", ceiling_dbtp),
            ("offset_ms", offset_ms),
            ("vocal_chain", vocal_chain),
        )
        if value is not None
    }
    try:
        result = mix(vocals, instrumental, out, dataclasses.replace(base, **changes))
    except AudioError as exc:
        raise click.UsageError(str(exc)) from exc
    lines = [
        f"{result.out}: {result.lufs:.1f} LUFS, true peak {result.true_peak_dbtp:.2f} dBTP, {result.duration_s:.1f} s",
        *result.notes,
    ]
    _echo_lines(lines, json_out)
    if json_out:
        write_json(result.to_dict(), json_out)


@main.command("cover")
@click.argument("workspace_dir", metavar="WORKSPACE", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--song", required=True, help="The song: a path, or one relative to WORKSPACE (songs/x.wav).")
@click.option("--step", required=True, type=click.IntRange(min=0), help="Step of the registered checkpoint to sing with.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The cover: .wav, .flac or .mp3.")
@click.option(
    "--stages",
    metavar="LIST",
    default=None,
    help="Separation stages from vocals,dereverb,karaoke, or none for dry vocals (default: the settings').",
)
@click.option("--transpose", type=click.IntRange(-24, 24), default=None, help="Semitones (default: the settings', 0).")
@click.option("--f0", "f0_method", default=None, help="Pitch tracker for svc infer: auto, crepe, crepe-tiny, harvest, parselmouth, dio (default: the settings', auto).")
@click.option("--rerun", type=click.Choice(["vocals", "dereverb", "karaoke", "convert", "mix"]), default=None, help="Run this stage again even when cached (then stop).")
@click.option("--json", "json_out", metavar="OUT", help="Write every stage's record as JSON to OUT (- for stdout).")
def cover_command(
    workspace_dir: Path,
    song: str,
    step: int,
    out: Path,
    stages: str | None,
    transpose: int | None,
    f0_method: str | None,
    rerun: str | None,
    json_out: str | None,
) -> None:
    """Make a cover of SONG with the checkpoint of step N: separate, convert, mix, in WORKSPACE.

    Uses the workspace's separation and mix settings (the Cover page saves them). Every stage is
    cached in WORKSPACE/renders/covers/; a second run reuses what did not change. Exit 1 when a
    stage fails (the earlier stages' files stay).
    """
    import dataclasses
    import shutil

    from svcqa.cover.pipeline import EXPORT_FORMATS, CoverRequest, run_cover
    from svcqa.train import checkpoints

    ws = Workspace(workspace_dir).ensure_layout()
    song_path = Path(song) if Path(song).is_file() else ws.root / song
    if not song_path.is_file():
        raise click.UsageError(f"No song {song} (looked in the current folder and in {ws.root}).")
    export_format = out.suffix.lower().lstrip(".")
    if export_format not in EXPORT_FORMATS:
        raise click.UsageError(f"--out must end in .{', .'.join(EXPORT_FORMATS)}.")
    if out.resolve() == song_path.resolve() or ws.songs.resolve() in out.resolve().parents:
        raise click.UsageError(f"--out may not be in {ws.songs}: songs/ holds only your songs.")
    found = [c for c in checkpoints.list_checkpoints(ws) if c.step == step]
    if not found:
        found = [c for c in checkpoints.scan(ws, settle_s=0.2) if c.step == step]
    if not found:
        steps = ", ".join(str(c.step) for c in checkpoints.list_checkpoints(ws)) or "none"
        raise click.UsageError(f"No registered checkpoint of step {step} (registered steps: {steps}).")
    settings = ws.load_settings()
    request = CoverRequest(
        song=str(song_path.absolute()),
        checkpoint=found[-1].sha256,
        separation=dataclasses.replace(settings.separation, stages=_stage_list(stages, settings.separation.stages)),
        mix=settings.mix,
        cover=dataclasses.replace(
            settings.cover,
            export_format=export_format,
            **{k: v for k, v in (("transpose_semitones", transpose), ("f0_method", f0_method)) if v is not None},
        ),
        rerun=rerun,
    )
    result = run_cover(
        ws,
        request,
        progress=lambda stage, status, fraction, message: click.echo(f"[{stage}] {status} {message}", err=True),
    )
    failed = result.failed
    cover_file = result.cover
    data: dict[str, Any] = {**result.to_dict(), "out": None}
    if cover_file is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        shutil.copyfile(cover_file, partial)
        partial.replace(out)
        mixed = result.outcome("mix")
        assert mixed is not None and mixed.record is not None
        data = {**data, "out": str(out), **{k: mixed.record.details[k] for k in ("lufs", "true_peak_dbtp", "duration_s")}}
    lines = [f"{o.stage}: {o.status}" for o in result.outcomes]
    if cover_file is not None:
        lines.append(f"Cover: {out} ({data['lufs']:.1f} LUFS, true peak {data['true_peak_dbtp']:.2f} dBTP)")
    _echo_lines(lines, json_out)
    if json_out:
        write_json(data, json_out)
    if failed is not None:
        assert failed.record is not None
        raise SvcqaError(f"The {failed.stage} stage failed: {failed.record.error}")
    if cover_file is None:
        raise SvcqaError("The mix stage did not run; run again without --rerun to finish the cover.")


@main.group()
def train() -> None:
    """Start, stop, inspect and watch so-vits-svc-fork training in a workspace."""


def _existing_workspace(path: Path) -> Workspace:
    if not path.is_dir():
        raise click.UsageError(f"Workspace {path} does not exist.")
    return Workspace(path)


def _train_workspace_argument(func: Any) -> Any:
    return click.argument(
        "workspace_dir", metavar="WORKSPACE", type=click.Path(file_okay=False, path_type=Path)
    )(func)


def _json_flag(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text.")(func)


def _status_lines(current: Any) -> list[str]:
    """Return ``train status`` as text lines."""
    progress = current.progress
    target = current.run.target_steps if current.run else None
    lines = [
        f"state: {current.state}" + (f" ({current.job.state}, job {current.job.id})" if current.job else "")
    ]
    if current.step is not None:
        lines.append(f"step: {current.step}" + (f" of {target}" if target else ""))
    if progress is not None:
        speed = f"{progress.steps_per_s:.2f} steps/s" if progress.steps_per_s else "speed not measured yet"
        eta = f", about {progress.eta_s / 60:.0f} min to the target" if progress.eta_s is not None else ""
        lines.append(f"epoch: {progress.epoch}, {speed}{eta}; devices: {', '.join(progress.devices)}")
    lines.append(f"checkpoints: {len(current.checkpoints)} registered")
    for checkpoint in current.checkpoints[-5:]:
        where = "run folder" if checkpoint.path.exists() else "archive only"
        derived = " (derived)" if checkpoint.step_derived else ""
        lines.append(
            f"  step {checkpoint.step}{derived}: {checkpoint.path.name}, {checkpoint.sha256[:12]}, {where}"
        )
    disk = current.disk
    lines.append(f"archive: {disk.archive_bytes / 1e9:.2f} GB; free disk: {disk.free_bytes / 1e9:.1f} GB")
    if current.disk_warning:
        lines.append(f"warning: {current.disk_warning}")
    for found in current.diagnoses:
        lines.append(f"{found.severity}: {found.title}. {found.explanation} Fix: {found.fix}")
    return lines


@train.command("start")
@_train_workspace_argument
@click.option(
    "--target-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Hard stop at this step (default: the workspace's setting, 60000; 20000 is usually usable).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Clips per batch (default: the setting)."
)
@click.option("--precision", type=click.Choice(TRAIN_PRECISIONS), default=None, help="Lightning precision.")
@click.option("--log-interval", type=click.IntRange(min=1), default=None, help="Steps between loss logs.")
@click.option(
    "--eval-interval",
    type=click.IntRange(min=1),
    default=None,
    help="Steps between checkpoints (and evaluations).",
)
@click.option("--reset-optimizer", is_flag=True, help="Resume the weights but start the optimizer afresh.")
@_json_flag
def train_start(
    workspace_dir: Path,
    target_steps: int | None,
    batch_size: int | None,
    precision: str | None,
    log_interval: int | None,
    eval_interval: int | None,
    reset_optimizer: bool,
    as_json: bool,
) -> None:
    """Start training WORKSPACE in the background, or resume it from its newest checkpoint.

    Options given are saved as the workspace's training settings. The run goes on without this
    command (and without a browser); `train stop` ends it with a save.
    """
    from svcqa.train import training

    ws = _existing_workspace(workspace_dir)
    settings = ws.load_settings()
    changes = {
        key: value
        for key, value in {
            "target_steps": target_steps,
            "batch_size": batch_size,
            "precision": precision,
            "log_interval": log_interval,
            "eval_interval": eval_interval,
        }.items()
        if value is not None
    }
    if changes:
        settings = settings.with_section("train", **changes)
        ws.save_settings(settings)
    run = training.start(ws, settings.train, reset_optimizer=reset_optimizer)
    if as_json:
        write_json(run.to_dict(), "-")
        return
    resumed = f"resuming from step {run.resumed_from_step}" if run.resumed_from_step else "from scratch"
    gpus = ", ".join(g["name"] for g in run.gpus) or "CPU (no GPU found)"
    click.echo(f"Training started {resumed} to step {run.target_steps} on {gpus} (job {run.job_id}).")


@train.command("stop")
@_train_workspace_argument
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to wait for the save before terminating (default: the settings' stop timeout).",
)
@_json_flag
def train_stop(workspace_dir: Path, timeout_s: float | None, as_json: bool) -> None:
    """Stop WORKSPACE's training after it saves G and D at the current step."""
    from svcqa.train import training

    ws = _existing_workspace(workspace_dir)
    job = training.stop(ws, timeout_s)
    current = training.status(ws)
    if as_json:
        write_json(current.to_dict(), "-")
        return
    if job is None:
        click.echo("No training is running.")
        return
    saved = current.progress.saved_step if current.progress else None
    click.echo(f"Training {current.state}" + (f", saved at step {saved}." if saved is not None else "."))


@train.command("status")
@_train_workspace_argument
@_json_flag
def train_status(workspace_dir: Path, as_json: bool) -> None:
    """Show WORKSPACE's training: state, step, speed, checkpoints, disk and diagnoses."""
    from svcqa.train import training

    current = training.status(_existing_workspace(workspace_dir))
    if as_json:
        write_json(current.to_dict(), "-")
        return
    for line in _status_lines(current):
        click.echo(line)


@train.command("watch")
@_train_workspace_argument
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder to watch (default: WORKSPACE/logs/44k), e.g. an original so-vits-svc logs/44k.",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="For checkpoints named by epoch, when the folder's config.json cannot tell.",
)
@click.option("--once", is_flag=True, help="Register what the folder holds now, then exit.")
@click.option("--poll", is_flag=True, help="Poll the folder instead of file events (network file systems).")
@_json_flag
def train_watch(
    workspace_dir: Path,
    folder: Path | None,
    steps_per_epoch: int | None,
    once: bool,
    poll: bool,
    as_json: bool,
) -> None:
    """Register and archive every generator checkpoint that appears in a run folder, until Ctrl-C.

    Works for runs svcqa did not start. With --json each registered checkpoint is one JSON line.
    """
    from svcqa.train import checkpoints

    ws = _existing_workspace(workspace_dir).ensure_layout()
    watched = (folder or ws.logs_44k).absolute()
    if folder is not None and not watched.is_dir():
        raise click.UsageError(f"Folder {watched} does not exist.")
    naming = checkpoints.naming_for(watched, steps_per_epoch)
    settle_s = ws.load_settings().train.checkpoint_settle_s

    def report(checkpoint: Any) -> None:
        if as_json:
            click.echo(json.dumps(checkpoint.to_dict()))
        else:
            derived = " (derived)" if checkpoint.step_derived else ""
            click.echo(
                f"registered {checkpoint.path.name}: step {checkpoint.step}{derived} -> {checkpoint.archived_path}"
            )

    watcher = checkpoints.CheckpointWatcher(
        ws,
        watched,
        naming=naming,
        settle_s=settle_s,
        on_register=report,
        on_error=lambda path, exc: click.echo(f"could not register {path.name}: {exc}", err=True),
        poll=poll,
    )
    how = "by step" if naming.by_step else f"by epoch, {naming.steps_per_epoch} steps per epoch"
    click.echo(f"Watching {watched} (checkpoints named {how}); Ctrl-C ends.", err=True)
    watcher.start()
    try:
        while not once:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop(drain=True)


@main.command("render")
@click.argument("workspace_dir", metavar="WORKSPACE", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--song",
    "song_file",
    metavar="FILE",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The song's dry vocals; copied into WORKSPACE/songs/ unless it is there already.",
)
@click.option(
    "--excerpt",
    "span",
    metavar="START:END",
    help="Seconds of the song to render (default: the suggested window around its highest sustained notes).",
)
@click.option(
    "--min-step",
    type=click.IntRange(min=0),
    default=None,
    help="Render checkpoints registered at or past this step (default: the workspace's threshold, 10000).",
)
@click.option(
    "--transpose", type=int, default=None, help="Semitones (default: the workspace's render settings)."
)
@click.option(
    "--f0-method", default=None, help="Pitch tracker: auto, crepe, crepe-tiny, parselmouth, dio, harvest."
)
@click.option("--speaker", default=None, help="Speaker of the model config (default: the first).")
@click.option("--force", is_flag=True, help="Render again even where a render is stored.")
@click.option(
    "--json",
    "json_out",
    metavar="OUT",
    help='Write {"excerpt", "settings_hash", "renders": [...]} as JSON to OUT (- for stdout).',
)
def render_command(
    workspace_dir: Path,
    song_file: Path,
    span: str | None,
    min_step: int | None,
    transpose: int | None,
    f0_method: str | None,
    speaker: str | None,
    force: bool,
    json_out: str | None,
) -> None:
    """Render an excerpt of a song with every registered checkpoint at or past a step.

    Features are computed once, each checkpoint only decodes, every render is loudness-matched
    and stored in WORKSPACE/renders/ (paths in the output are relative to WORKSPACE); a render
    already stored with the same settings is reused. A checkpoint that cannot be loaded is
    reported with its reason and the others render. Exit 1 when no checkpoint qualifies.
    """
    import dataclasses

    from svcqa.engines.svc import quiet_svc_logging
    from svcqa.listen import excerpts
    from svcqa.listen.render import Renderer, render_context
    from svcqa.listen.render_worker import register_new_checkpoints
    from svcqa.train.checkpoints import list_checkpoints

    if not workspace_dir.is_dir():
        raise click.UsageError(f"Workspace {workspace_dir} does not exist.")
    if not song_file.is_file():
        raise click.UsageError(f"Song {song_file} does not exist.")
    ws = Workspace(workspace_dir).ensure_layout()
    overrides = {
        name: value
        for name, value in (
            ("min_step", min_step),
            ("transpose_semitones", transpose),
            ("f0_method", f0_method),
            ("speaker", speaker),
        )
        if value is not None
    }
    settings = dataclasses.replace(ws.load_settings().render, **overrides)
    quiet_svc_logging()
    try:
        song = excerpts.import_song(ws, song_file, settings)
        if span:
            start_s, end_s = _parse_span(span)
            excerpt = excerpts.make_excerpt(ws, song, start_s, end_s, "", settings)
        else:
            excerpt = excerpts.suggest_excerpts(ws, song, settings)[0]
        excerpts.choose(ws, excerpt)
        register_new_checkpoints(ws)
        context = render_context(ws, settings)
        found = list_checkpoints(ws, min_step=settings.min_step)
        if not found:
            raise SvcqaError(
                f"No checkpoint at or past step {settings.min_step} is registered in {ws.root}; "
                "train longer or lower --min-step."
            )
        click.echo(
            f"Excerpt {excerpt.title}; {len(found)} checkpoints; settings {context.settings_hash}.", err=True
        )
        renderer = Renderer(ws, context, log=_echo_err)
        records = renderer.render([(checkpoint, excerpt) for checkpoint in found], force=force)
    except SvcqaError as exc:
        raise click.ClickException(str(exc)) from exc
    lines = [
        f"step {r.checkpoint_step:>8}  {r.checkpoint_sha256[:12]}  "
        + (f"failed: {r.error}" if r.error else f"{r.lufs if r.lufs is not None else '-':>7} LUFS  {r.path}")
        + ("  (cached)" if r.cached else "")
        + (f"  {r.message}" if r.message else "")
        for r in records
    ]
    _echo_lines(lines, json_out)
    if json_out:
        write_json(
            {
                "workspace": str(ws.root),
                "excerpt": excerpt.to_dict(),
                "settings_hash": context.settings_hash,
                "settings": context.settings_dict(),
                "renders": [r.to_dict() for r in records],
            },
            json_out,
        )


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


def _parse_span(span: str) -> tuple[float, float]:
    """Return ``(start_s, end_s)`` of ``START:END`` in seconds; a usage error otherwise."""
    try:
        start, end = (float(part) for part in span.split(":"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{span!r} is not START:END in seconds, e.g. 12.5:37.5.", param_hint="--excerpt"
        ) from exc
    return start, end


@main.command()
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path))
@click.option("--f0-method", default=None, help="Pitch tracker for pre-hubert (default: the workspace setting, 'auto').")
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
    report = svc.preprocess(
        ws,
        train,
        extra_edits=svc.workspace_config_edits(ws) or None,
        echo=lambda line: click.echo(line, err=json_out == "-"),
    )
    if json_out:
        write_json(report.to_dict(), json_out)
    else:
        click.echo(f"Preprocessed {sum(report.clips_per_speaker.values())} clips with f0 method {report.f0_method}.")


@main.group()
def listen() -> None:
    """The blind listening test from scripts: pairs, votes, results, reveal, vote-only links."""


def _listen_test(workspace_dir: Path) -> tuple[Workspace, Any, list[Any], Any]:
    """Return the workspace, its store, the test's stimuli and the listening settings."""
    from svcqa.core.store import Store
    from svcqa.listen.listening import stimuli_from_renders

    ws = _existing_workspace(workspace_dir)
    return ws, Store(ws.db_path), stimuli_from_renders(ws), ws.load_settings().listen


def _ranking_lines(results: Any) -> list[str]:
    """Return the revealed ranking as text lines, best first, with where quality peaks."""
    from svcqa.listen.listening import quality_curve

    lines = [
        f"  step {r.checkpoint_step:>8}: score {r.score:+.2f} (95% {r.ci_low:+.2f} to {r.ci_high:+.2f}), "
        f"{r.comparisons:g} comparisons"
        for r in results.ranking
    ]
    if results.votes and results.ranking:
        curve = quality_curve(results.ranking)
        lines.append(f"peak: step {curve.peak_step}; tied with it: {', '.join(map(str, curve.tied_steps))}")
        if curve.overtraining_step is not None:
            lines.append(f"clearly worse from step {curve.overtraining_step} on (overtraining)")
    return lines


@listen.command("results")
@_train_workspace_argument
@_json_flag
def listen_results(workspace_dir: Path, as_json: bool) -> None:
    """Print the votes so far and, once revealed, the ranking of the checkpoints.

    Before reveal the ranking is empty: nothing names a checkpoint.
    """
    from svcqa.listen.listening import results

    _, store, stimuli, settings = _listen_test(workspace_dir)
    found = results(store, stimuli, settings=settings)
    if as_json:
        write_json(found.to_dict(), "-")
        return
    click.echo(f"{found.votes} votes, {found.rated_trials} rated trials; revealed: {'yes' if found.revealed else 'no'}")
    click.echo(found.refusal or "Every checkpoint had enough comparisons: reveal is allowed.")
    for line in _ranking_lines(found):
        click.echo(line)


@listen.command("next")
@_train_workspace_argument
@click.option("--listener", required=True, help="Your listener name (votes are kept per listener).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for a.wav and b.wav (default: a new temporary folder).",
)
@_json_flag
def listen_next(workspace_dir: Path, listener: str, out_dir: Path | None, as_json: bool) -> None:
    """Write the listener's next blind pair as a.wav and b.wav and print its pair id.

    A pair given out earlier and not voted on yet is given again. The files are anonymised
    (loudness matched, no metadata) and named only a.wav and b.wav.
    """
    import tempfile

    from svcqa.listen.listening import next_pair, pair_audio, pending_pair

    _, store, stimuli, settings = _listen_test(workspace_dir)
    pair_id = pending_pair(store, listener)
    audio = None
    if pair_id is not None:
        try:
            audio = pair_audio(store, stimuli, pair_id, settings=settings)
        except SvcqaError:
            pair_id = None
    if pair_id is None or audio is None:
        pair = next_pair(store, stimuli, listener, settings=settings)
        pair_id, audio = pair.id, (pair.audio_a, pair.audio_b)
    folder = out_dir or Path(tempfile.mkdtemp(prefix="svcqa-pair-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"a": folder / "a.wav", "b": folder / "b.wav"}
    for side, data in zip(("a", "b"), audio, strict=True):
        paths[side].write_bytes(data)
    if as_json:
        write_json({"pair_id": pair_id, "a": str(paths["a"]), "b": str(paths["b"])}, "-")
        return
    click.echo(f"pair {pair_id}\nA: {paths['a']}\nB: {paths['b']}")
    click.echo(
        f"Vote with: python -m svcqa listen vote {workspace_dir} --listener {listener!r} "
        f"--pair {pair_id} --choice A|B|same"
    )


@listen.command("vote")
@_train_workspace_argument
@click.option("--listener", required=True, help="The listener the pair was given to.")
@click.option("--pair", "pair_id", required=True, help="The pair id `listen next` printed.")
@click.option("--choice", required=True, type=click.Choice(["A", "B", "same"]), help="The better side, or same.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="A reason (repeatable): hoarse_high_notes, timbre_unlike_singer, slurred_words, pitch_errors, noise.",
)
@_json_flag
def listen_vote(
    workspace_dir: Path, listener: str, pair_id: str, choice: str, tags: tuple[str, ...], as_json: bool
) -> None:
    """Record a vote on a pair; the same vote sent twice is stored once."""
    from svcqa.listen.listening import vote

    _, store, _, _ = _listen_test(workspace_dir)
    cast = vote(store, pair_id, listener, choice, tags)
    if as_json:
        write_json(cast.to_dict(), "-")
    else:
        click.echo(f"Vote saved: {choice}" + (f" ({', '.join(cast.tags)})" if cast.tags else ""))


@listen.command("reveal")
@_train_workspace_argument
@_json_flag
def listen_reveal(workspace_dir: Path, as_json: bool) -> None:
    """Reveal which checkpoint is which and print the ranking; exit 1 with the reason while too few votes are in."""
    from svcqa.listen.listening import reveal

    _, store, stimuli, settings = _listen_test(workspace_dir)
    found = reveal(store, stimuli, settings=settings)
    if as_json:
        write_json(found.to_dict(), "-")
        return
    click.echo(f"Revealed after {found.votes} votes and {found.rated_trials} rated trials.")
    for line in _ranking_lines(found):
        click.echo(line)


@listen.command("invite")
@_train_workspace_argument
@click.option("--label", default="", help="Whom the link is for (shown in the list of links).")
@click.option(
    "--url", "base_url", default="http://127.0.0.1:8501/", show_default=True, help="The address listeners open."
)
@_json_flag
def listen_invite(workspace_dir: Path, label: str, base_url: str, as_json: bool) -> None:
    """Create a vote-only link: it opens the Listen page only, and in public mode needs no password.

    Only a hash of the link's token is stored: copy the link now. Revoke it with `listen revoke`.
    """
    from svcqa.listen.invites import create_invite, invite_link

    ws = _existing_workspace(workspace_dir)
    invite, token = create_invite(ws, label)
    link = invite_link(base_url, token)
    if as_json:
        write_json({"invite": invite.to_dict(), "link": link}, "-")
    else:
        click.echo(f"{link}\n(invitation {invite.id}; revoke with: python -m svcqa listen revoke {workspace_dir} {invite.id})")


@listen.command("invites")
@_train_workspace_argument
@_json_flag
def listen_invites(workspace_dir: Path, as_json: bool) -> None:
    """List the vote-only links (their ids and labels; the links themselves are not stored)."""
    from svcqa.listen.invites import list_invites

    found = list_invites(_existing_workspace(workspace_dir))
    if as_json:
        write_json([i.to_dict() for i in found], "-")
        return
    for invite in found:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(invite.created_at))
        click.echo(f"{invite.id}  {'revoked' if invite.revoked else 'open':8} {made}  {invite.label}")


@listen.command("revoke")
@_train_workspace_argument
@click.argument("invite_id")
def listen_revoke(workspace_dir: Path, invite_id: str) -> None:
    """Close the vote-only link INVITE_ID at once, also for listeners who have it open."""
    from svcqa.listen.invites import revoke_invite

    revoke_invite(_existing_workspace(workspace_dir), invite_id)
    click.echo(f"Invitation {invite_id} revoked.")


@main.command("export")
@_train_workspace_argument
@click.argument("out_zip", metavar="OUT.zip", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--step", required=True, type=click.IntRange(min=0), help="Step of the registered checkpoint.")
@_json_flag
def export_command(workspace_dir: Path, out_zip: Path, step: int, as_json: bool) -> None:
    """Write the checkpoint of step N as a small inference model: G_<N>.pth without optimizer state plus config.json.

    The zip loads in so-vits-svc-fork (svc infer -m G_<N>.pth -c config.json) and sings exactly
    like the training checkpoint.
    """
    from svcqa.listen.listening import export_step

    if out_zip.suffix.lower() != ".zip":
        raise click.UsageError("OUT.zip must end in .zip.")
    exported = export_step(_existing_workspace(workspace_dir), step, out_zip)
    if as_json:
        write_json(exported.to_dict(), "-")
    else:
        click.echo(
            f"Wrote {exported.path}: {exported.model_name} and config.json, {exported.size_bytes / 1e6:.1f} MB "
            f"(the training checkpoint is {exported.checkpoint_bytes / 1e6:.1f} MB)."
        )


@main.command()
@click.argument("workspace", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_out", metavar="OUT", help="Write the metrics as JSON to OUT (- for stdout).")
def metrics(workspace: Path, json_out: str | None) -> None:
    """Objective metrics of every rendered checkpoint (screens that save listening time, not verdicts)."""
    from svcqa.listen.checkpoint_metrics import METRIC_LABELS, workspace_metrics

    ws = Workspace(workspace)
    rows = workspace_metrics(ws, ws.load_settings(), progress=lambda _f, m: click.echo(m, err=True))
    if json_out:
        write_json({"checkpoints": [row.to_dict() for row in rows]}, json_out)
    if json_out != "-":
        if not rows:
            click.echo("No renders yet: render a test song through the checkpoints first (python -m svcqa render).")
        for row in rows:
            values = ", ".join(
                f"{METRIC_LABELS[name]} {value:.3g}" for name, value in row.values.items() if value is not None
            )
            click.echo(f"step {row.checkpoint_step:>7,}: {values or 'no values'}")


def run() -> None:
    """Entry point that maps svcqa errors to exit code 1 with the message."""
    try:
        main(standalone_mode=True)
    except SvcqaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
