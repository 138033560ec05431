"""What every command of ``svcqa`` shares: the exit codes, common options, JSON output and the
group that turns OS errors into one-line messages.

Exit codes: 0 when the command ran (whatever it found), 1 when it could not do its work,
2 on bad arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from svcqa.core.files import atomic_write_text
from svcqa.core.workspace import ENV_VAR, Workspace

EXIT_FAILED = 1
EXIT_BAD_ARGS = 2
SHOWN_NAME_CHARS = 120


def write_json(data: Any, out: str) -> None:
    """Write ``data`` as JSON to the file ``out`` (``-`` for standard output), atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    if out == "-":
        click.echo(text)
        return
    atomic_write_text(Path(out), text + "\n")


def workspace_option(func: Any) -> Any:
    """Add ``--workspace/-w`` (optional; ``$SVCQA_WORKSPACE`` or ./workspace when absent)."""
    return click.option(
        "--workspace",
        "-w",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Workspace folder (default: ${ENV_VAR} or ./workspace).",
    )(func)


def workspace_argument(func: Any) -> Any:
    """Add the positional ``WORKSPACE`` argument, passed as ``workspace_dir``."""
    return click.argument("workspace_dir", metavar="WORKSPACE", type=click.Path(file_okay=False, path_type=Path))(
        func
    )


def json_flag(func: Any) -> Any:
    """Add ``--json`` as a flag (``as_json``): JSON on stdout instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text.")(func)


def existing_workspace(path: Path) -> Workspace:
    """Return the workspace at ``path``; a usage error when the folder does not exist."""
    if not path.is_dir():
        raise click.UsageError(f"Workspace {path} does not exist.")
    return Workspace(path)


def echo_lines(lines: list[str], json_out: str | None) -> None:
    """Print ``lines`` to stdout, or to stderr when the JSON goes to stdout."""
    for line in lines:
        click.echo(line, err=json_out == "-")


def echo_err(line: str) -> None:
    """Print ``line`` to stderr (progress that must not mix with JSON on stdout)."""
    click.echo(line, err=True)


def os_error_message(exc: OSError) -> str:
    """Return an OS error as one short line: the reason and the file it concerns (shortened).

    Example
    -------
    >>> os_error_message(FileNotFoundError(2, "No such file or directory", "a.wav"))
    'No such file or directory: a.wav'
    """
    name = exc.filename if exc.filename is not None else ""
    shown = str(name) if len(str(name)) <= SHOWN_NAME_CHARS else f"{str(name)[:SHOWN_NAME_CHARS]}..."
    reason = exc.strerror or str(exc)
    return f"{reason}: {shown}" if shown else reason


class Commands(click.Group):
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
            raise click.ClickException(os_error_message(exc)) from exc
