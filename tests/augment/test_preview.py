from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from aug_helpers import noise
from PIL import Image

from medaug.augment import write_preview
from medaug.augment.preview import DPI, LABEL_IN, TILE_IN
from medaug.errors import AugmentError


def _gradient(n: int, size: int = 24) -> torch.Tensor:
    ramp = torch.linspace(0, 1, size)
    return (ramp[None, :] * ramp[:, None] ** 0.5).expand(n, 1, size, size).contiguous()


@pytest.mark.parametrize(("spec", "rows"), [
    ("rotate+flip+chessboard", 5), ("blur(sigma=2-4)", 3), ("none", 2)])
def test_writes_png_with_one_row_per_op(tmp_path: Path, spec: str, rows: int) -> None:
    n = 3
    path = write_preview(_gradient(n), spec, tmp_path / "sub" / "preview.png", seed=1)
    assert path == tmp_path / "sub" / "preview.png"
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        pixels = np.asarray(im.convert("L"))
    assert h == round(rows * TILE_IN * DPI)
    assert w == round((LABEL_IN + n * TILE_IN) * DPI)
    assert pixels.std() > 10  # not blank
    assert [p.name for p in path.parent.iterdir()] == ["preview.png"]  # no temp file left


def test_rows_grow_with_the_spec(tmp_path: Path) -> None:
    x = noise(2)
    a = write_preview(x, "flip", tmp_path / "a.png")
    b = write_preview(x, "flip+rotate+erase+intensity", tmp_path / "b.png")
    with Image.open(a) as ia, Image.open(b) as ib:
        assert ia.size[0] == ib.size[0]
        assert ib.size[1] / ia.size[1] == pytest.approx(6 / 3)


def test_overwrites_and_is_deterministic(tmp_path: Path) -> None:
    x = noise(2)
    path = tmp_path / "p.png"
    write_preview(x, "chessboard+erase", path, seed=3)
    first = path.read_bytes()
    write_preview(x, "chessboard+erase", path, seed=3)
    assert path.read_bytes() == first
    write_preview(x, "chessboard+erase", path, seed=4)
    assert path.read_bytes() != first


def test_bad_images_raise(tmp_path: Path) -> None:
    with pytest.raises(AugmentError, match=r"\(N, 1, H, W\)"):
        write_preview(torch.rand(2, 3, 16, 16), "flip", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_titles_add_a_caption_band_and_must_match(tmp_path: Path) -> None:
    x = noise(3, 16)
    plain = write_preview(x, "flip", tmp_path / "a.png")
    titled = write_preview(x, "flip", tmp_path / "b.png", titles=["normal: a", "abnormal: b", "c"])
    with Image.open(plain) as a, Image.open(titled) as b:
        assert b.size[0] == a.size[0] and b.size[1] > a.size[1]
    with pytest.raises(AugmentError, match="2 titles for 3 images"):
        write_preview(x, "flip", tmp_path / "c.png", titles=["a", "b"])
