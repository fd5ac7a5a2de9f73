"""The import direction of the library, read from the source (``ast``; nothing is imported).

serving, training -> models -> features -> ingest, store -> core. Within the ingest/store
tier, ingest may write through store but store never imports ingest. No library package
imports the demo world, except training importing ``world.layout`` (the names of the
planted-truth files) and ``world.simulate`` (members following a policy for some weeks), both
only to evaluate against what the world planted; training and serving never import each
other. Imports inside functions and under ``TYPE_CHECKING`` count: they are dependencies all
the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LIBRARY = ("core", "store", "ingest", "features", "models", "serving", "training")
# Higher imports lower only; equal tiers may not import each other unless listed below.
TIER = {"core": 0, "store": 1, "ingest": 1, "features": 2, "models": 3, "serving": 4, "training": 4}
SAME_TIER_ALLOWED = {("ingest", "store")}
WORLD_ALLOWED = {("training", "world.layout"), ("training", "world.simulate")}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _violations(path: Path, package: str) -> list[str]:
    """Each import of ``path`` (in ``package``) that breaks the direction, as 'line: module'."""
    broken = []
    for line, module in _imported_modules(path):
        top = module.split(".")[0]
        if top == package:
            continue
        if top == "world":
            allowed = any(
                package == owner
                and (module == allowed_module or module.startswith(allowed_module + "."))
                for owner, allowed_module in WORLD_ALLOWED
            )
        elif top in TIER:
            allowed = TIER[top] < TIER[package] or (package, top) in SAME_TIER_ALLOWED
        else:
            continue  # standard library and third-party packages
        if not allowed:
            broken.append(f"{line}: {module}")
    return broken


def _library_files() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for package in LIBRARY
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    ]


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_the_scan_sees_the_library() -> None:
    files = _library_files()
    assert len(files) > 100
    assert {package for package, _ in files} == set(LIBRARY)


def test_imports_follow_the_direction() -> None:
    broken = {
        _relative(path): found
        for package, path in _library_files()
        if (found := _violations(path, package))
    }
    assert broken == {}


def test_training_and_serving_never_import_each_other() -> None:
    broken = {
        _relative(path): [
            line for line, module in _imported_modules(path) if module.split(".")[0] == other
        ]
        for package, other in (("training", "serving"), ("serving", "training"))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }
    assert {path: lines for path, lines in broken.items() if lines} == {}


def test_no_library_package_imports_the_world() -> None:
    broken = {
        _relative(path): [
            module
            for _, module in _imported_modules(path)
            if module.split(".")[0] == "world" and (package, module) not in WORLD_ALLOWED
        ]
        for package, path in _library_files()
    }
    assert {path: modules for path, modules in broken.items() if modules} == {}


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing import TYPE_CHECKING\n"
        "import pandas\n"
        "from core.settings import Settings\n"
        "if TYPE_CHECKING:\n"
        "    from models.drift import DriftReport\n"
        "def later():\n"
        "    import world.layout\n"
    )
    assert _violations(wrong, "features") == ["5: models.drift", "7: world.layout"]
    assert _violations(wrong, "training") == []
    assert _violations(wrong, "store") == ["5: models.drift", "7: world.layout"]
