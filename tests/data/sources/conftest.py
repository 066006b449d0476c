"""Fixtures: tiny MURA- and AI Hub-shaped trees in ``tmp_path`` (builders in ``builders.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import make_aihub_tree, make_mura_tree


@pytest.fixture
def mura_tree(tmp_path: Path) -> Path:
    """The ``MURA-v1.1`` folder of a headerless synthetic MURA (see ``MURA_STUDIES``)."""
    return make_mura_tree(tmp_path / "data")


@pytest.fixture
def aihub_tree(tmp_path: Path) -> Path:
    """Root of a synthetic AI Hub set with Training/Validation parents (see ``AIHUB_IMAGES``)."""
    return make_aihub_tree(tmp_path / "aihub")
