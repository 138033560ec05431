"""svcqa as an installed package: the ``svcqa`` command, its package data, and the one default port."""

from __future__ import annotations

import fnmatch
import importlib
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from svcqa.cli.main import main, run
from svcqa.core.settings import DEFAULT_APP_URL, DEFAULT_PORT

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _installed_svcqa() -> Path:
    """Return the .venv's ``svcqa`` command; skip the test when the checkout is not installed."""
    command = VENV_BIN / "svcqa"
    if not command.is_file():
        pytest.skip("svcqa is not installed in .venv (scripts/bootstrap.sh installs it)")
    return command


def _outside_the_checkout(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_svcqa_command_lists_every_command_from_another_folder(tmp_path: Path) -> None:
    done = _outside_the_checkout([str(_installed_svcqa()), "--help"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Usage: svcqa [OPTIONS] COMMAND" in done.stdout
    for name in ("audit", "prepare", "train", "render", "listen", "cover", "serve"):
        assert f"  {name} " in done.stdout


def test_python_dash_m_svcqa_works_from_another_folder_once_installed(tmp_path: Path) -> None:
    _installed_svcqa()
    done = _outside_the_checkout([str(VENV_BIN / "python"), "-m", "svcqa", "--help"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert "check, prepare, train, compare and mix" in done.stdout


def test_the_console_script_is_the_cli_entry_point() -> None:
    module, _, name = PYPROJECT["project"]["scripts"]["svcqa"].partition(":")

    assert getattr(importlib.import_module(module), name) is run
    assert set(main.commands) >= {"audit", "pitch", "slice", "prepare", "preprocess", "demo", "serve"}


def test_every_file_under_svcqa_that_is_not_python_is_declared_package_data() -> None:
    patterns = [p for globs in PYPROJECT["tool"]["setuptools"]["package-data"].values() for p in globs]
    data = [
        path
        for path in (REPO / "svcqa").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]

    assert any(path.name == "ab_player.html" for path in data)
    assert [path for path in data if not any(fnmatch.fnmatch(path.name, p) for p in patterns)] == []


def test_the_default_port_is_the_one_in_settings_wherever_it_is_repeated() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    streamlit_config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    serve_port = next(p for p in main.commands["serve"].params if p.name == "port")
    invite_url = next(p for p in main.commands["listen"].commands["invite"].params if p.name == "base_url")

    assert f"PORT ?= {DEFAULT_PORT}\n" in makefile
    assert streamlit_config["server"]["port"] == DEFAULT_PORT
    assert serve_port.default == DEFAULT_PORT
    assert invite_url.default == DEFAULT_APP_URL == f"http://127.0.0.1:{DEFAULT_PORT}/"
