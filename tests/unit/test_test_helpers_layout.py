"""Test modules share code only through ``tests/support``: none imports another test module or a conftest."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_modules_import_shared_code_only_from_tests_support() -> None:
    wrong = []
    for file in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
                if not node.module.startswith("tests.support."):
                    wrong.append(f"{file.relative_to(TESTS.parent)}:{node.lineno}: {node.module}")
    assert wrong == [], "move what they share to tests/support: " + "; ".join(wrong)
