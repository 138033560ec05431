"""``svcqa separate``, ``svcqa mix`` and ``svcqa cover``: from a song to a finished cover."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from svcqa.cli.common import echo_lines, workspace_option, write_json
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import SeparationSettings, Settings
from svcqa.core.workspace import Workspace, default_root


def stage_list(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
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


def separation_options(func: Any) -> Any:
    """Add ``--stages``, ``--download/--no-download`` and one ``--<stage>-model`` per stage."""
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


def separation_settings(
    base: SeparationSettings, stages: str | None, download: bool | None, models: dict[str, str | None]
) -> SeparationSettings:
    """Return ``base`` with the stages, download permission and model files the options gave."""
    changes: dict[str, Any] = {f"{stage}_model": name for stage, name in models.items() if name}
    if download is not None:
        changes["allow_download"] = download
    return dataclasses.replace(base, stages=stage_list(stages, base.stages), **changes)


@click.command("separate")
@click.argument("song", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the stems (created if missing).",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="audio-separator model folder (default: the workspace's models/separation; AUDIO_SEPARATOR_MODEL_DIR overrides both).",
)
@separation_options
@click.option("--json", "json_out", metavar="OUT", help="Write the stems as JSON to OUT (- for stdout).")
@workspace_option
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
    saved = ws.load_settings()
    settings = separation_settings(
        saved.separation,
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
            max_input_s=saved.limits.separate_max_s,
        )
    except AudioError as exc:
        raise click.UsageError(str(exc)) from exc
    lines = [
        f"{s.stage}: {Path(s.kept.path).name} (kept), {Path(s.removed.path).name}" for s in result.stages
    ]
    echo_lines([*lines, f"Vocals for conversion: {result.vocals.path}"], json_out)
    if json_out:
        write_json(result.to_dict(), json_out)


@click.command("mix")
@click.option(
    "--vocals",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The (converted) vocals.",
)
@click.option(
    "--instrumental",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The accompaniment.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The mix: .wav, .flac or .mp3.",
)
@click.option(
    "--balance-db",
    type=float,
    default=None,
    help="Vocals' loudness minus the accompaniment's in LU (default: the settings', 0).",
)
@click.option(
    "--lufs", type=float, default=None, help="Integrated loudness of the mix (default: the settings', -14)."
)
@click.option(
    "--ceiling-dbtp", type=float, default=None, help="True-peak ceiling in dBTP (default: the settings', -1)."
)
@click.option(
    "--offset-ms",
    type=float,
    default=None,
    help="Delay of the vocals in ms; negative cuts their start (default: 0).",
)
@click.option(
    "--vocal-chain/--no-vocal-chain",
    default=None,
    help="High-pass, compressor, de-esser-like EQ and reverb on the vocals.",
)
@click.option(
    "--json", "json_out", metavar="OUT", help="Write what was measured as JSON to OUT (- for stdout)."
)
@workspace_option
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
    from svcqa.core.errors import AudioError
    from svcqa.cover.mixing import MIX_FORMATS, mix

    if out.suffix.lower() not in MIX_FORMATS:
        raise click.UsageError(f"--out must end in {', '.join(MIX_FORMATS)}.")
    saved = Workspace(workspace).load_settings() if workspace else Settings()
    base = saved.mix
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
        result = mix(
            vocals,
            instrumental,
            out,
            dataclasses.replace(base, **changes),
            max_input_s=saved.limits.mix_max_s,
        )
    except AudioError as exc:
        raise click.UsageError(str(exc)) from exc
    lines = [
        f"{result.out}: {result.lufs:.1f} LUFS, true peak {result.true_peak_dbtp:.2f} dBTP, {result.duration_s:.1f} s",
        *result.notes,
    ]
    echo_lines(lines, json_out)
    if json_out:
        write_json(result.to_dict(), json_out)


@click.command("cover")
@click.argument(
    "workspace_dir", metavar="WORKSPACE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--song", required=True, help="The song: a path, or one relative to WORKSPACE (songs/x.wav).")
@click.option(
    "--step",
    required=True,
    type=click.IntRange(min=0),
    help="Step of the registered checkpoint to sing with.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The cover: .wav, .flac or .mp3.",
)
@click.option(
    "--stages",
    metavar="LIST",
    default=None,
    help="Separation stages from vocals,dereverb,karaoke, or none for dry vocals (default: the settings').",
)
@click.option(
    "--transpose", type=click.IntRange(-24, 24), default=None, help="Semitones (default: the settings', 0)."
)
@click.option(
    "--f0",
    "f0_method",
    default=None,
    help="Pitch tracker for svc infer: auto, crepe, crepe-tiny, harvest, parselmouth, dio (default: the settings', auto).",
)
@click.option(
    "--rerun",
    type=click.Choice(["vocals", "dereverb", "karaoke", "convert", "mix"]),
    default=None,
    help="Run this stage again even when cached (then stop).",
)
@click.option(
    "--json", "json_out", metavar="OUT", help="Write every stage's record as JSON to OUT (- for stdout)."
)
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
    from svcqa.cover.pipeline import run_cover
    from svcqa.cover.songs import CoverRequestError, cover_request, deliver

    ws = Workspace(workspace_dir).ensure_layout()
    settings = ws.load_settings()
    try:
        request = cover_request(
            ws,
            song,
            step,
            out,
            settings,
            stages=stage_list(stages, settings.separation.stages),
            transpose=transpose,
            f0_method=f0_method,
            rerun=rerun,
        )
    except CoverRequestError as exc:
        raise click.UsageError(str(exc)) from exc
    result = run_cover(
        ws,
        request,
        progress=lambda stage, status, fraction, message: click.echo(
            f"[{stage}] {status} {message}", err=True
        ),
    )
    delivered = deliver(result, out)
    lines = [f"{o.stage}: {o.status}" for o in result.outcomes]
    if delivered.out is not None:
        lines.append(
            f"Cover: {out} ({delivered.figures['lufs']:.1f} LUFS, "
            f"true peak {delivered.figures['true_peak_dbtp']:.2f} dBTP)"
        )
    echo_lines(lines, json_out)
    if json_out:
        write_json(delivered.to_dict(), json_out)
    failed = result.failed
    if failed is not None:
        assert failed.record is not None
        raise SvcqaError(f"The {failed.stage} stage failed: {failed.record.error}")
    if delivered.out is None:
        raise SvcqaError("The mix stage did not run; run again without --rerun to finish the cover.")
