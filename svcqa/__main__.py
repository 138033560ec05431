"""``python -m svcqa``."""

from svcqa.cli import run

run()
