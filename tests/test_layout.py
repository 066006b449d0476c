"""The package's shape, checked: imports run one way between subpackages (GUIDE.md's order),
no import cycle between subpackages, nothing imports the CLI, and no source file is long."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "medaug"

#: Layers in import order: a unit may import its own subpackage and the layers before it only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "registry", "paths", "config", "atomic"),
    ("data", "augment", "models"),
    ("store",),
    ("methods",),
    ("evaluate",),
    ("train",),
    ("explain",),
    ("study",),
    ("bench",),
    ("cli", "__main__"),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
MAX_LINES = 400


def unit_of(module: str) -> str | None:
    """``medaug.train.pretrain`` -> ``train``; ``None`` outside the package."""
    parts = module.split(".")
    if parts[0] != "medaug" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """Every ``medaug`` module ``path`` (a file under ``root``) imports, at the top level, in
    functions or under TYPE_CHECKING, with its line; relative imports resolved."""
    package = ".".join(("medaug", *path.relative_to(root).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__") + ".__init__"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:-node.level]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names
                      if module == "medaug"]
    return [(line, m) for line, m in found if m == "medaug" or m.startswith("medaug.")]


def source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def edges() -> list[tuple[str, str, Path, int]]:
    """(importer unit, imported unit, file, line) for every import between units."""
    result = []
    for path in source_files():
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        for line, module in imports_of(path):
            target = unit_of(module)
            if target is not None and target != own:
                result.append((own, target, path, line))
    return result


def test_every_unit_has_a_layer() -> None:
    units = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in source_files()}
    units.discard("__init__")
    assert sorted(units - set(RANK)) == []


def test_imports_run_one_way() -> None:
    wrong = [f"{path.relative_to(SRC)}:{line}: {own} imports {target}"
             for own, target, path, line in edges()
             if RANK[target] > RANK[own] or (RANK[target] == RANK[own]
                                             and RANK[own] not in (0, len(LAYERS) - 1))]
    assert wrong == []


def test_no_cycle_between_subpackages() -> None:
    graph: dict[str, set[str]] = {}
    for own, target, _, _ in edges():
        graph.setdefault(own, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert sorted(u for u in graph if reaches(u, u, set())) == []


def test_nothing_imports_the_cli() -> None:
    wrong = [f"{path.relative_to(SRC)}:{line}" for own, target, path, line in edges()
             if target == "cli" and own != "__main__"]
    assert wrong == []


def test_no_source_file_is_long() -> None:
    long = [f"{p.relative_to(SRC)} ({n} lines)" for p in source_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from medaug.train.pretrain import run_pretrain\n", "medaug.train.pretrain"),
    ("import medaug.store\n", "medaug.store"),
    ("def f():\n    from medaug.cli.app import app\n", "medaug.cli.app"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from medaug.explain import x\n",
     "medaug.explain"),
    ("from ..train import trainer\n", "medaug.train"),
    ("from . import metrics\n", "medaug.evaluate"),
])
def test_the_walker_sees_every_kind_of_import(tmp_path: Path, source: str, expected: str
                                              ) -> None:
    """The check can fail: a planted file's imports are found wherever they stand."""
    planted = tmp_path / "evaluate" / "planted.py"
    planted.parent.mkdir()
    planted.write_text(source)
    assert expected in {m for _, m in imports_of(planted, tmp_path)}
