"""Name -> class registries with factories (timm's habit): ops and methods register under a
name, a duplicate name is an error, and an unknown name is an error that lists the valid
ones."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection
from typing import Generic, TypeVar

from medaug.errors import MedaugError

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Classes registered by name.

    Args:
        kind: what is registered, for messages ("augmentation op", "method").
        error: the :class:`MedaugError` subclass raised on a duplicate or unknown name.
        loader: imports the modules whose decorators fill the registry (called before any
            lookup, so registration needs no import order).
    """

    def __init__(self, kind: str, error: type[MedaugError],
                 loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.error = error
        self.loader = loader
        self._classes: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: register ``cls`` as ``name`` and set ``cls.name``."""

        def deco(cls: C) -> C:
            if name in self._classes:
                raise self.error(f"{self.kind} {name!r} is already registered")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._classes)

    def lookup(self, name: str) -> C:
        """The class registered as ``name``."""
        self._load()
        if name not in self._classes:
            raise self.error(f"unknown {self.kind} {name!r}; valid: "
                             f"{', '.join(sorted(self._classes))}")
        return self._classes[name]

    def _load(self) -> None:
        if self.loader is not None:
            self.loader()


def package_modules(package: str, skip: Collection[str] = ()) -> list[str]:
    """Names of the modules found in ``package``'s folder(s), sorted, without ``skip`` and
    private (``_``) ones: the files a registry imports to fill itself."""
    path = importlib.import_module(package).__path__
    return sorted(m.name for m in pkgutil.iter_modules(path)
                  if m.name not in skip and not m.name.startswith("_"))


def module_loader(package: str, skip: Collection[str] = ()) -> Callable[[], None]:
    """A :class:`Registry` loader that imports every module of :func:`package_modules`."""

    def load() -> None:
        for module in package_modules(package, skip):
            importlib.import_module(f"{package}.{module}")

    return load

