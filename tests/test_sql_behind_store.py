"""Every SQL statement of svcqa lives in ``svcqa/core/store/``: no other module of the package or
page runs a query or holds the text of one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "svcqa"
STORE = PACKAGE / "core" / "store"

_EXECUTE = re.compile(r"\.execute(?:many|script)?\(")
_STATEMENT = re.compile(
    r"\b(?:SELECT\s.*\sFROM|INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER))\b",
    re.DOTALL,
)


def sql_found(source: str) -> list[str]:
    """Return what in ``source`` runs or spells an SQL statement: ``.execute(`` calls and string
    literals (f-strings with their fields as ``{}``) holding a statement."""
    found = [m.group(0) for m in _EXECUTE.finditer(source)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        found.extend(m.group(0) for m in _STATEMENT.finditer(text))
    return found


def _modules() -> list[object]:
    params: list[object] = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(REPO / "app_pages").glob("*.py")]):
        if STORE in path.parents:
            continue
        name = path.relative_to(PACKAGE if PACKAGE in path.parents else REPO).as_posix()
        params.append(pytest.param(path, id=name))
    return params


@pytest.mark.parametrize("path", _modules())
def test_module_outside_the_store_holds_no_sql(path: Path) -> None:
    assert sql_found(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_queries_and_leaves_prose_alone() -> None:
    code = """
rows = conn.execute(f"SELECT {columns} FROM renders WHERE id = ?", (rid,))
cursor.executemany("INSERT OR REPLACE INTO t VALUES (?)", rows)
text = "UPDATE checkpoints SET path = ?"
doc = "Select a checkpoint from the list, then delete from the archive what you do not need."
"""
    assert sorted(sql_found(code)) == [
        ".execute(",
        ".executemany(",
        "INSERT OR REPLACE INTO",
        "SELECT {} FROM",
        "UPDATE checkpoints SET",
    ]
    assert sorted(sql_found("DDL = 'CREATE TABLE x (a)'\nq = 'DELETE FROM x'")) == [
        "CREATE TABLE",
        "DELETE FROM",
    ]
