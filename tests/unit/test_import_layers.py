"""The packages under ``agi_scripts/`` import only downwards, as ``docs/architecture.md`` draws them.

Every import counts: at the top, inside a function, under ``TYPE_CHECKING``. A package may import its
own modules and the packages on lower floors, never one on its own floor or above, so no circle can
form. The checker itself is tested on made-up graphs, so it cannot pass by seeing nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "agi_scripts"

FLOORS: dict[str, int] = {
    # the ground floor: imports nothing else of the package
    "protocol": 0, "ground": 0,
    # machinery that knows no Respectline rule: the store, AMI, the FastAGI server, prompt audio
    "storage": 1, "ami": 1, "server": 1, "prompts": 1,
    # the flow files and their engines (post-call, the abuse ladder)
    "flows": 2,
    # the settings and the bundle that ties config, flows and prompts together
    "config": 3,
    # what the product does with a bundle
    "asterisk_conf": 4, "notify": 4, "reports": 4, "policy": 4, "transcribe": 4,
    "privacy": 5, "doctor": 5, "handlers": 5, "sandbox": 5, "desk": 5,
    # the command line, on top
    "cli": 6,
}

FORBIDDEN: dict[str, set[str]] = {
    "protocol": set(FLOORS) - {"protocol"},
    "storage": {"server", "handlers", "cli", "reports", "sandbox"},
    "server": {"handlers", "storage", "cli", "reports", "sandbox", "config"},
}
"""Spelled out as the issue asks, although the floors already forbid all of it."""


def package_imports(root: Path) -> dict[str, dict[str, list[str]]]:
    """``{package: {imported package: ["file:line", ...]}}`` for imports between packages of ``root``."""
    found: dict[str, dict[str, list[str]]] = {}
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root).parts
        if len(parts) < 2:
            continue  # agi_scripts/__init__.py and friends belong to no floor
        source = parts[0]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                words = name.split(".")
                if len(words) >= 2 and words[0] == root.name and words[1] != source:
                    found.setdefault(source, {}).setdefault(words[1], []).append(
                        f"{file.relative_to(root.parent)}:{node.lineno}")
    return found


def violations(imports: Mapping[str, Mapping[str, Iterable[str]]], floors: Mapping[str, int],
               forbidden: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(imports.items()):
        for target, places in sorted(targets.items()):
            where = ", ".join(places)
            if source not in floors or target not in floors:
                problems.append(f"{source} -> {target}: a package without a floor ({where}); give it one "
                                "here and in docs/architecture.md")
            elif target in forbidden.get(source, set()):
                problems.append(f"{source} -> {target} is forbidden ({where})")
            elif floors[target] >= floors[source]:
                problems.append(f"{source} (floor {floors[source]}) -> {target} (floor {floors[target]}): "
                                f"imports sideways or up ({where})")
    return problems


def test_every_package_imports_only_downwards() -> None:
    imports = package_imports(PACKAGE)
    assert imports, "no import between packages was found: the checker is reading nothing"
    assert violations(imports, FLOORS, FORBIDDEN) == []


def test_every_package_has_a_floor() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(FLOORS)


def test_the_architecture_page_draws_the_same_floors() -> None:
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in FLOORS:
        assert f"`{package}`" in page, f"docs/architecture.md does not place {package}"


def test_the_checker_finds_a_circle_an_upward_and_a_forbidden_import() -> None:
    floors = {"low": 0, "mid": 1, "high": 2}
    circle = {"low": {"mid": ["low/a.py:3"]}, "mid": {"low": ["mid/b.py:4"]}}
    assert violations(circle, floors, {}) == [
        "low (floor 0) -> mid (floor 1): imports sideways or up (low/a.py:3)"]
    sideways = {"mid": {"mid2": ["mid/c.py:1"]}}
    assert "without a floor" in violations(sideways, floors, {})[0]
    assert violations({"high": {"low": ["high/d.py:9"]}}, floors, {"high": {"low"}}) == [
        "high -> low is forbidden (high/d.py:9)"]


def test_the_checker_reads_imports_inside_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    root = tmp_path / "agi_scripts"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    (root / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agi_scripts.high.b import B\n"
        "def f():\n    import agi_scripts.high.c\n")
    assert package_imports(root) == {"low": {"high": ["agi_scripts/low/a.py:3", "agi_scripts/low/a.py:5"]}}
