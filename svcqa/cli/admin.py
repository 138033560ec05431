"""``svcqa serve``, ``svcqa password`` and ``svcqa demo``: running the dashboard and setting it up."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from svcqa.cli.common import workspace_option
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import DEFAULT_PORT
from svcqa.core.workspace import Workspace, default_root


@click.command("demo")
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


@click.command("serve")
@workspace_option
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
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


@click.group("password")
def password() -> None:
    """Manage the password that public mode (serve --public) requires."""


@password.command("set")
@workspace_option
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
