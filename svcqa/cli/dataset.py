"""``svcqa audit`` and ``svcqa pitch``: the dataset audit and a test song's pitch coverage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from svcqa.cli.common import echo_lines, workspace_option, write_json
from svcqa.core.errors import DatasetError
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace

if TYPE_CHECKING:
    from svcqa.dataset.run import AuditReport


@click.command("audit")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option(
    "--json", "json_out", metavar="OUT", help="Write the full report as JSON to OUT (- for stdout)."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: one per physical core, as many as free memory holds).",
)
@click.option("--no-cache", is_flag=True, help="Measure every file again instead of reusing cached results.")
@click.option(
    "--voice/--no-voice", default=True, show_default=True, help="Pitch and speech-vs-singing analysis."
)
@workspace_option
def audit(
    dataset_dir: Path,
    json_out: str | None,
    workers: int | None,
    no_cache: bool,
    voice: bool,
    workspace: Path | None,
) -> None:
    """Audit the audio files under DATASET_DIR (recursively); the folder is never written.

    A folder inside a workspace is audited with that workspace's settings and cached in its
    database, which the dashboard reads: it shows the results without measuring again.
    """
    from svcqa.dataset.report_text import summary_lines
    from svcqa.dataset.run import audit_dataset
    from svcqa.dataset.voice_analysis import voice_available

    settings, cache_path = _settings_and_cache(dataset_dir, workspace)
    try:
        report = audit_dataset(
            dataset_dir,
            settings,
            workers=workers,
            cache_path=cache_path,
            use_cache=not no_cache,
            with_voice=voice_available(voice),
        )
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    if json_out != "-":
        echo_lines(summary_lines(report), json_out)
    echo_lines([_cache_line(report)], "-" if json_out == "-" else None)
    if json_out:
        write_json(report.to_dict(), json_out)


def _settings_and_cache(dataset_dir: Path, workspace: Path | None) -> tuple[Settings | None, Path]:
    """Return the settings and the cache of an audit of ``dataset_dir``: those of the workspace
    it lies in (see :func:`~svcqa.dataset.run.enclosing_workspace`), else the user cache."""
    from svcqa.dataset.run import enclosing_workspace, user_cache_path

    found = enclosing_workspace(dataset_dir, workspace)
    if found is not None:
        return found.load_settings(), found.db_path
    return (Workspace(workspace).load_settings() if workspace else None), user_cache_path()


def _cache_line(report: AuditReport) -> str:
    """Return the line that says which cache the audit used."""
    cache = report.cache
    if cache is None or cache.path is None:
        return f"Cache: not used ({cache.measured if cache else len(report.clips)} files measured)."
    return f"Cache: {cache.path} ({cache.measured} measured, {cache.reused} reused)."


@click.command("pitch")
@click.argument("song", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--against",
    "dataset_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Dataset folder to compare with.",
)
@click.option("--json", "json_out", metavar="OUT", help="Write the check as JSON to OUT (- for stdout).")
@workspace_option
def pitch(song: Path, dataset_dir: Path, json_out: str | None, workspace: Path | None) -> None:
    """Check which notes of SONG's vocals the dataset does not cover, and suggest a transpose."""
    from svcqa.audio.decode import check_duration, probe
    from svcqa.core.errors import AudioError
    from svcqa.dataset.dataset_voice import check_song
    from svcqa.dataset.pitch import PITCH_LIMIT
    from svcqa.dataset.run import audit_dataset

    settings, cache_path = _settings_and_cache(dataset_dir, workspace)
    chosen = settings or Settings()
    try:
        check_duration(probe(song), chosen.limits.pitch_max_s, PITCH_LIMIT)  # before the audit's minutes
        report = audit_dataset(dataset_dir, settings, cache_path=cache_path, with_voice=True)
        rows = [(c.measurement, c.codes) for c in report.clips]
        result = check_song(song, rows, chosen.pitch, chosen.limits.pitch_max_s)
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
            click.echo(
                f"  Suggested transpose: {shift:+d} semitones ({data['transposed_uncovered_s']} s left uncovered)"
            )
        else:
            click.echo(
                "  No transpose needed."
                if not data["uncovered_midi"]
                else "  No transpose helps: record those notes."
            )
    if json_out:
        write_json(data, json_out)
