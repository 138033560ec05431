"""``svcqa`` (or ``python -m svcqa``): every core capability without the browser, with ``--json``
for scripts.

Each command group lives in its own module of :mod:`svcqa.cli`; this one assembles them.
Exit codes: 0 when the command ran (whatever it found), 1 when it could not do its work,
2 on bad arguments.
"""

from __future__ import annotations

import os
import sys

import click

from svcqa.cli import admin, cover, dataset, listen, prepare, train
from svcqa.cli.common import EXIT_FAILED, Commands, printable
from svcqa.core.errors import SvcqaError
from svcqa.core.interpreter import freeze_at_exit


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """svcqa: check, prepare, train, compare and mix so-vits-svc voice models."""


for _command in (
    dataset.audit,
    dataset.pitch,
    prepare.slice_command,
    prepare.prepare,
    prepare.preprocess,
    train.train,
    listen.render_command,
    listen.listen,
    listen.export_command,
    listen.metrics,
    cover.separate,
    cover.mix_command,
    cover.cover_command,
    admin.serve,
    admin.password,
    admin.demo,
):
    main.add_command(_command)


def run() -> None:
    """Entry point that maps svcqa errors to exit code 1 with the message."""
    freeze_at_exit()
    try:
        main(standalone_mode=True)
    except SvcqaError as exc:
        click.echo(printable(f"error: {exc}", keep_newlines=True), err=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
