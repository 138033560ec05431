"""``python -m svcqa``."""

from svcqa.cli.main import run

run()
