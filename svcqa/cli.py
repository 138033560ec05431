"""``python -m svcqa``: every core capability without the browser, with ``--json`` for scripts.

Exit codes: 0 when the command ran (whatever it found), 1 when it could not do its work,
2 on bad arguments.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from svcqa.errors import DatasetError, SvcqaError
from svcqa.workspace import ENV_VAR, Workspace, default_root

EXIT_FAILED = 1
EXIT_BAD_ARGS = 2


def write_json(data: Any, out: str) -> None:
    """Write ``data`` as JSON to the file ``out`` (``-`` for standard output)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    if out == "-":
        click.echo(text)
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(target)


def _workspace_option(func: Any) -> Any:
    return click.option(
        "--workspace",
        "-w",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Workspace folder (default: ${ENV_VAR} or ./workspace).",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    from svcqa.audit.report_text import summary_lines
    from svcqa.audit.run import audit_dataset

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
        import svcqa.audit.pitch  # noqa: F401
    except ImportError:
        return False
    return True


@main.command()
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path), required=False)
def demo(workspace: Path | None) -> None:
    """Create the demo workspace (a generated singer with planted problems) in WORKSPACE."""
    from svcqa.demo import create_demo

    ws = Workspace(workspace or default_root())
    folder = create_demo(ws, progress=lambda _f, msg: click.echo(msg, err=True))
    click.echo(f"Demo recordings in {folder}")


@main.command()
@_workspace_option
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--public", is_flag=True, help="Listen on all interfaces (requires a password).")
@click.option("--no-demo", is_flag=True, help="Do not create the demo speaker in an empty workspace.")
def serve(workspace: Path | None, port: int, public: bool, no_demo: bool) -> None:
    """Start the dashboard on 127.0.0.1 (creating the demo workspace when it is empty)."""
    from svcqa.serve import serve_app

    try:
        code = serve_app(Workspace(workspace or default_root()), port=port, public=public, demo=not no_demo)
    except SvcqaError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


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
