"""The import direction of the library, read from the source (``ast``; nothing is imported).

serving, training -> models -> features -> ingest, store -> core. Within the ingest/store
tier, ingest may write through store but store never imports ingest. No library package
imports the demo world, except training importing ``world.layout`` (the names of the
planted-truth files, for evaluation); training and serving never import each other. Imports
inside functions and under ``TYPE_CHECKING`` count: they are dependencies all the same.

``KNOWN_VIOLATIONS`` names the files that break a rule today, each with its reason; they are
being fixed by their owners. The rule tests skip them so that a new violation fails, and
``test_known_violation_still_present`` marks each as an expected failure: when one passes
(XPASS), its entry can go.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

LIBRARY = ("core", "store", "ingest", "features", "models", "serving", "training")
# Higher imports lower only; equal tiers may not import each other unless listed below.
TIER = {"core": 0, "store": 1, "ingest": 1, "features": 2, "models": 3, "serving": 4, "training": 4}
SAME_TIER_ALLOWED = {("ingest", "store")}
WORLD_ALLOWED = {("training", "world.layout")}

# path relative to the repository -> why it is tolerated for now.
KNOWN_VIOLATIONS: dict[str, str] = {
    "features/learning/checkin.py": (
        "imports models.learning.mastery (features -> models); the learning helper is moving it"
    ),
    "models/learning/recommender.py": (
        "imports world.learner_model (difficulty_logit) from the demo world; learning helper"
    ),
    "training/recommender.py": (
        "imports world.simulate (more than world.layout) for its evaluation; training helper"
    ),
}


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
        if _relative(path) not in KNOWN_VIOLATIONS and (found := _violations(path, package))
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
            if module.split(".")[0] == "world"
            and not (package == "training" and (module == "world.layout"))
        ]
        for package, path in _library_files()
        if _relative(path) not in KNOWN_VIOLATIONS
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


@pytest.mark.parametrize(
    "relative",
    [
        pytest.param(relative, marks=pytest.mark.xfail(reason=reason, strict=False))
        for relative, reason in KNOWN_VIOLATIONS.items()
    ],
)
def test_known_violation_still_present(relative: str) -> None:
    path = REPO_ROOT / relative
    assert path.exists(), f"{relative} is gone: drop it from KNOWN_VIOLATIONS"
    assert _violations(path, relative.split("/")[0]) == []
