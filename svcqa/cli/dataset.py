"""``svcqa audit`` and ``svcqa pitch``: the dataset audit and a test song's pitch coverage."""

from __future__ import annotations

from pathlib import Path

import click

from svcqa.cli.common import workspace_option, write_json
from svcqa.core.errors import DatasetError
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace


@click.command("audit")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "json_out", metavar="OUT", help="Write the full report as JSON to OUT (- for stdout).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--no-cache", is_flag=True, help="Measure every file again instead of reusing cached results.")
@click.option("--voice/--no-voice", default=True, show_default=True, help="Pitch and speech-vs-singing analysis.")
@workspace_option
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
    from svcqa.dataset.voice_analysis import voice_available

    settings = Workspace(workspace).load_settings() if workspace else None
    try:
        report = audit_dataset(
            dataset_dir, settings, workers=workers, use_cache=not no_cache, with_voice=voice_available(voice)
        )
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    if json_out != "-":
        for line in summary_lines(report):
            click.echo(line)
    if json_out:
        write_json(report.to_dict(), json_out)


@click.command("pitch")
@click.argument("song", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--against", "dataset_dir", required=True, type=click.Path(path_type=Path), help="Dataset folder to compare with.")
@click.option("--json", "json_out", metavar="OUT", help="Write the check as JSON to OUT (- for stdout).")
@workspace_option
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
