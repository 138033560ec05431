"""requirements.in names every third-party distribution svcqa imports; requirements.txt pins them."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("svcqa", "app_pages", "streamlit_app.py", "tests", "benchmarks")
FIRST_PARTY = {"svcqa", "app_pages", "tests", "benchmarks", "streamlit_app"}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(path: Path) -> set[str]:
    """Return the distribution names a requirements file lists (normalised, extras dropped)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            names.add(_normalised(re.split(r"[\[<>=!~;\s]", text, maxsplit=1)[0]))
    return names


def _third_party_imports() -> dict[str, set[str]]:
    """Return each top-level module imported in the sources that is neither stdlib nor svcqa's own,
    with the files that import it."""
    found: dict[str, set[str]] = {}
    for source in SOURCES:
        root = REPO / source
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _distributions_of(top: str, known: dict[str, list[str]]) -> set[str]:
    """Return the installed distributions that provide the module ``top`` (normalised names).

    ``known`` is :func:`importlib.metadata.packages_distributions`, which infers top-level names
    from .py files only, so a module that is a single compiled file (praat-parselmouth's
    ``parselmouth``) is looked up in the distributions' file lists.
    """
    names = set(known.get(top, ()))
    if not names:
        for dist in importlib.metadata.distributions():
            for file in dist.files or ():
                if len(file.parts) == 1 and file.name.split(".")[0] == top and file.suffix in (".py", ".so"):
                    names.add(dist.metadata["Name"])
    return {_normalised(name) for name in names}


def test_every_third_party_import_is_a_distribution_named_in_requirements_in() -> None:
    listed = _requirement_names(REPO / "requirements.in")
    imports = _third_party_imports()
    assert {"click", "scipy", "psutil", "lightning", "parselmouth"} <= set(imports)
    known = importlib.metadata.packages_distributions()
    providers = {top: _distributions_of(top, known) for top in imports}
    assert {top: files for top, files in imports.items() if not providers[top]} == {}, "not installed"
    unlisted = {top: sorted(providers[top]) for top in imports if not providers[top] & listed}
    assert unlisted == {}, f"add these distributions to requirements.in: {unlisted}"


def test_requirements_txt_pins_every_line_exactly_and_every_name_of_requirements_in() -> None:
    lines = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s=]+", line)] == []
    pinned = {_normalised(line.split("==")[0]) for line in lines}
    assert _requirement_names(REPO / "requirements.in") - pinned == set()


def test_pyproject_declares_the_names_of_requirements_in_with_the_same_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    listed = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "requirements.in").read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]

    assert sorted(declared) == sorted(listed)
