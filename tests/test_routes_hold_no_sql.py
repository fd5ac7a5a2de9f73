"""No route module holds SQL: statements live in ``store/queries/<domain>.py``.

A string literal of a route module (``serving/api/routes``) that reads as a SQL statement
(SELECT/INSERT/UPDATE/DELETE followed by a clause keyword) fails the test. Read with ``ast``;
docstrings are skipped, so prose may still say "select".
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[1] / "serving" / "api" / "routes"

SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE
)


def _docstring_nodes(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _literal_texts(tree: ast.Module) -> list[str]:
    """Each string literal's text; an f-string is one text with ``{}`` for its fields."""
    skip = _docstring_nodes(tree)
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            texts.append(
                "".join(
                    str(part.value) if isinstance(part, ast.Constant) else "{}"
                    for part in node.values
                )
            )
            skip.update(id(part) for part in node.values)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            texts.append(node.value)
    return texts


def sql_literals(source: str) -> list[str]:
    """The string literals of ``source`` (not docstrings) that read as SQL statements."""
    return [text.strip()[:60] for text in _literal_texts(ast.parse(source)) if SQL.search(text)]


def _route_files() -> list[Path]:
    return sorted(path for path in ROUTES.glob("*.py") if path.name != "__init__.py")


def test_the_scan_sees_the_routes() -> None:
    assert len(_route_files()) >= 5


def test_routes_hold_no_sql() -> None:
    holding = {
        path.name: found for path in _route_files() if (found := sql_literals(path.read_text()))
    }
    assert holding == {}


def test_the_scan_finds_sql() -> None:
    source = (
        '"""Select a member from the roster."""\n'
        'E = f"SELECT {1} FROM t"\n'
        'A = "SELECT count(*) FROM members WHERE x = ?"\n'
        'B = f"delete from alerts where id = {1}"\n'
        'C = "update the select list"\n'
        'D = "INSERT INTO t VALUES (1)"\n'
    )
    assert sql_literals(source) == [
        "SELECT {} FROM t",
        "SELECT count(*) FROM members WHERE x = ?",
        "delete from alerts where id = {}",
        "INSERT INTO t VALUES (1)",
    ]
