"""The package's shape, read from its source: leaves import nothing above them, and no function grows past what one
reading holds (60 lines, 6 parameters; click commands and layer constructors excepted)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_all"
LEAVES = ("keras_all.vocabulary", "keras_all.metrics", "keras_all.tables", "keras_all.histogram",
          "keras_all.artifacts", "keras_all.estimators", "keras_all.interruption")
# what each lower part may import of the package (itself and the leaves above)
MAY_IMPORT = {"data": ("keras_all.data", *LEAVES),
              "cells": ("keras_all.cells", "keras_all.data.io", *LEAVES),
              "layers": ("keras_all.layers", *LEAVES)}


def _modules():
    return sorted(path for path in PACKAGE.rglob("*.py") if "fields" not in path.relative_to(PACKAGE).parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("keras_all." + ".".join(path.relative_to(PACKAGE).parts[:-1]))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] == "keras_all"}


@pytest.mark.parametrize("part", list(MAY_IMPORT))
def test_the_lower_parts_import_nothing_above_them(part):
    allowed = MAY_IMPORT[part]
    above = {f"{path.relative_to(PACKAGE)}: {name}" for path in (PACKAGE / part).glob("*.py")
             for name in _imports(path) if not name.startswith(allowed)}
    assert not above, sorted(above)


def test_the_leaves_import_nothing_of_the_package():
    for leaf in LEAVES:
        path = PACKAGE / f"{leaf.split('.')[1]}.py"
        assert _imports(path) == set(), leaf


def test_no_function_is_longer_than_60_lines_or_takes_more_than_6_parameters():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            parameters = [a.arg for a in arguments if a.arg not in ("self", "cls")]
            command = any(ast.unparse(d).startswith(("main.command", "click.")) for d in node.decorator_list)
            layer = node.name == "__init__" and path.parent.name == "layers"
            if (node.end_lineno - node.lineno + 1 > 60 or len(parameters) > 6) and not (command or layer):
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not long, long
