"""The method registry finds its modules by their being in the package folder: no list."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

import medaug.methods as package
from medaug.methods import available_methods, base


def _method_files() -> list[str]:
    folder = Path(package.__file__).parent
    return sorted(p.stem for p in folder.glob("*.py")
                  if p.stem not in base.INFRASTRUCTURE and not p.stem.startswith("_"))


def test_every_method_file_is_found_and_registers_what_it_declares() -> None:
    folder = Path(package.__file__).parent
    files = _method_files()
    assert base.method_modules() == files
    declared = sorted(name for stem in files for name in re.findall(
        r'@register_method\("(\w+)"\)', (folder / f"{stem}.py").read_text()))
    assert available_methods() == declared
    modules = {base.method_class(n).__module__.rsplit(".", 1)[1] for n in declared}
    assert modules == set(files)  # every method file registered something
    loader = inspect.getsource(base._METHODS.loader)  # the one package loader
    assert not any(stem in loader for stem in files)  # no hand-kept list


def test_a_new_method_file_is_registered_by_being_in_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zz_dropped.py").write_text(
        "from medaug.methods.base import register_method\n"
        "from medaug.methods.simclr import SimCLR\n\n\n"
        "@register_method('zz_dropped')\n"
        "class Dropped(SimCLR):\n"
        "    pass\n")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(base._METHODS, "_classes", dict(base._METHODS._classes))
    monkeypatch.delitem(sys.modules, "medaug.methods.zz_dropped", raising=False)
    try:
        assert "zz_dropped" in available_methods()
    finally:
        sys.modules.pop("medaug.methods.zz_dropped", None)
