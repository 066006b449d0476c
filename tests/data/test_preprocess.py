"""Decoding (8/16-bit, colour copies of gray, bad files), 8-bit window, CLAHE, resize+pad."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import write_png
from medaug.data.preprocess import (
    DecodeError,
    PreprocessConfig,
    apply_clahe,
    decode,
    preprocess,
    resize_pad,
    to_uint8,
)
from medaug.errors import DataError


def _ramp(h: int = 16, w: int = 16) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 255 // (h * w - 1)).astype(np.uint8)


def _encode(path: Path, img: np.ndarray) -> Path:
    ok, data = cv2.imencode(path.suffix, img)
    assert ok
    path.write_bytes(data.tobytes())
    return path


# ---------------------------------------------------------------------- decode
def test_decode_8bit_png_exact(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", size=(12, 10), seed=1)
    expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    img = decode(path)
    assert img.dtype == np.uint8
    assert img.shape == (12, 10)
    np.testing.assert_array_equal(img, expected)


def test_decode_16bit_png_keeps_uint16_values(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 40000], [65535, 3, 256]], dtype=np.uint16)
    img16 = np.tile(values, (4, 3))  # 8x9: at least the 8 px minimum on each side
    img = decode(_encode(tmp_path / "deep.png", img16))
    assert img.dtype == np.uint16
    np.testing.assert_array_equal(img, img16)


def test_decode_rgb_png_of_gray_gives_one_channel(tmp_path: Path) -> None:
    gray = _ramp()
    img = decode(_encode(tmp_path / "rgb.png", np.dstack([gray] * 3)))
    assert img.shape == (16, 16)
    assert img.dtype == np.uint8
    np.testing.assert_array_equal(img, gray)


def test_decode_rgba_png_drops_alpha(tmp_path: Path) -> None:
    gray = _ramp()
    rgba = np.dstack([gray, gray, gray, np.zeros_like(gray)])
    img = decode(_encode(tmp_path / "rgba.png", rgba))
    np.testing.assert_array_equal(img, gray)


def test_decode_rgb_jpeg_of_gray_gives_one_channel(tmp_path: Path) -> None:
    gray = np.full((16, 16), 90, np.uint8)
    gray[:, 8:] = 200
    path = tmp_path / "rgb.jpg"
    ok, data = cv2.imencode(".jpg", np.dstack([gray] * 3), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    path.write_bytes(data.tobytes())
    img = decode(path)
    assert img.shape == (16, 16)
    assert img.dtype == np.uint8
    assert np.abs(img.astype(int) - gray).max() <= 3  # JPEG is lossy


def test_decode_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="zero-byte file"):
        decode(path)


def test_decode_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="cannot read file"):
        decode(tmp_path / "nothing.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_decode_truncated_file(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    good = _encode(tmp_path / f"good{suffix}", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    assert decode(good).shape == (32, 32)
    data = good.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        decode(cut)


@pytest.mark.parametrize(("suffix", "extra"), [(".png", 16), (".jpg", 100)])
def test_decode_accepts_trailing_bytes_after_end_marker(tmp_path: Path, suffix: str,
                                                        extra: int) -> None:
    rng = np.random.default_rng(0)
    good = _encode(tmp_path / f"good{suffix}", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    padded = tmp_path / f"padded{suffix}"
    padded.write_bytes(good.read_bytes() + b"\x00" * extra)  # as some scanners write them
    np.testing.assert_array_equal(decode(padded), decode(good))


def test_decode_truncated_jpeg_with_thumbnail_is_truncated(tmp_path: Path) -> None:
    # An APP1 segment holding a complete thumbnail (SOI ... EOI) before the image data: its
    # end marker must not count as the image's.
    rng = np.random.default_rng(2)
    ok, thumb = cv2.imencode(".jpg", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    ok2, main = cv2.imencode(".jpg", rng.integers(0, 256, (64, 64), dtype=np.uint8))
    assert ok and ok2
    payload = b"Exif\x00\x00" + thumb.tobytes()
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = main.tobytes()
    full = data[:2] + app1 + data[2:]
    good = tmp_path / "thumb.jpg"
    good.write_bytes(full)
    assert decode(good).shape == (64, 64)
    cut = tmp_path / "thumb-cut.jpg"
    cut.write_bytes(full[: len(full) - len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        decode(cut)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (7, 100), (100, 3)])
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_decode_rejects_tiny_images(tmp_path: Path, shape: tuple[int, int],
                                    suffix: str) -> None:
    path = _encode(tmp_path / f"tiny{suffix}", np.full(shape, 128, np.uint8))
    h, w = shape
    with pytest.raises(DecodeError, match=rf"^image is {w}x{h} px, smaller than the "
                                          r"8 px minimum"):
        decode(path)


def test_decode_accepts_the_minimum_side(tmp_path: Path) -> None:
    path = _encode(tmp_path / "edge.png", np.full((8, 40), 9, np.uint8))
    assert decode(path).shape == (8, 40)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def test_decode_rejects_a_huge_png_from_its_header(tmp_path: Path) -> None:
    # A valid ~390 KB PNG of 20000x20000 black pixels (400 MB once decoded).
    side = 20000
    z = zlib.compressobj(9)
    block = b"\x00" * ((side + 1) * 100)  # 100 rows: filter byte + pixels each
    idat = b"".join(z.compress(block) for _ in range(side // 100)) + z.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                     + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DecodeError, match=r"^image is 20000x20000 px \(400 megapixels\), "
                                          r"over the 100-megapixel limit"):
        decode(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_decode_pixel_cap_is_overridable(tmp_path: Path, suffix: str) -> None:
    path = _encode(tmp_path / f"wide{suffix}", _ramp(16, 64))
    assert decode(path).shape == (16, 64)
    with pytest.raises(DecodeError, match=r"^image is 64x16 px .*, over the 0\.001-megapixel"):
        decode(path, max_pixels=1000)


def test_decode_text_file_named_png_raises(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(DecodeError):
        decode(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_decode_text_file_reason_is_not_truncated(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"notes{suffix}"
    path.write_text("this is not an image\n")
    with pytest.raises(DecodeError) as exc:
        decode(path)
    assert "truncated" not in str(exc.value)
    assert "not a" in str(exc.value)


def test_decode_unknown_binary_with_image_suffix(tmp_path: Path) -> None:
    path = tmp_path / "noise.bmp"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(DecodeError, match="not a readable image"):
        decode(path)


def test_decode_error_is_a_data_error() -> None:
    assert issubclass(DecodeError, DataError)


# ---------------------------------------------------------------------- to_uint8
def test_to_uint8_passes_8bit_through() -> None:
    img = _ramp()
    assert to_uint8(img) is img


def test_to_uint8_windows_16bit_to_full_range_monotonic() -> None:
    img16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 200 + 1000)
    out = to_uint8(img16)
    assert out.dtype == np.uint8
    assert out.shape == (16, 16)
    assert out.min() == 0
    assert out.max() == 255
    flat = out.reshape(-1).astype(int)
    assert (np.diff(flat) >= 0).all()


def test_to_uint8_is_robust_to_a_hot_pixel() -> None:
    img16 = np.tile(np.linspace(1000, 2000, 16), (16, 1)).astype(np.uint16)
    img16[0, 0] = 65535  # one hot pixel (< 0.5 % of 256 pixels) must not squash the rest
    out = to_uint8(img16)
    assert out[1].max() >= 250  # the normal range still spans (almost) the full scale
    assert out[1].min() <= 5


def test_to_uint8_constant_image() -> None:
    out = to_uint8(np.full((8, 8), 5000, np.uint16))
    assert out.dtype == np.uint8
    assert (out == out[0, 0]).all()


# ---------------------------------------------------------------------- CLAHE
def test_clahe_changes_low_contrast_image_and_keeps_dtype_shape() -> None:
    rng = np.random.default_rng(0)
    img = (100 + rng.integers(0, 10, (32, 32))).astype(np.uint8)  # values 100..109
    out = apply_clahe(img, clip_limit=2.0, tile_grid=4)
    assert out.dtype == np.uint8
    assert out.shape == (32, 32)
    assert not np.array_equal(out, img)
    assert out.std() > img.std()  # contrast increased


def test_preprocess_clahe_on_and_off_differ() -> None:
    rng = np.random.default_rng(1)
    img = (120 + rng.integers(0, 8, (32, 32))).astype(np.uint8)
    off = preprocess(img, PreprocessConfig(size=32, clahe=False))
    on = preprocess(img, PreprocessConfig(size=32, clahe=True, tile_grid=4))
    np.testing.assert_array_equal(off, img)  # no CLAHE, no resize: unchanged
    assert not np.array_equal(on, off)


def test_preprocess_16bit_gives_uint8_square() -> None:
    img16 = (np.arange(20 * 10, dtype=np.uint16).reshape(20, 10) * 300)
    out = preprocess(img16, PreprocessConfig(size=16, clahe=True))
    assert out.dtype == np.uint8
    assert out.shape == (16, 16)


# ---------------------------------------------------------------------- resize_pad
def test_resize_pad_tall_image_gives_centred_band() -> None:
    out = resize_pad(np.full((40, 20), 255, np.uint8), 16)
    expected = np.zeros((16, 16), np.uint8)
    expected[:, 4:12] = 255  # 40x20 -> 16x8, centred
    np.testing.assert_array_equal(out, expected)


def test_resize_pad_wide_image_gives_centred_band() -> None:
    out = resize_pad(np.full((10, 30), 200, np.uint8), 12)
    expected = np.zeros((12, 12), np.uint8)
    expected[4:8, :] = 200  # 10x30 -> 4x12, top (12-4)//2 = 4
    np.testing.assert_array_equal(out, expected)


def test_resize_pad_square_and_upscale() -> None:
    out = resize_pad(np.full((4, 4), 77, np.uint8), 8)
    np.testing.assert_array_equal(out, np.full((8, 8), 77, np.uint8))
    same = _ramp()
    np.testing.assert_array_equal(resize_pad(same, 16), same)


@pytest.mark.parametrize(("shape", "size"), [((33, 7), 8), ((5, 50), 16), ((1, 100), 10)])
def test_resize_pad_output_shape_and_dtype(shape: tuple[int, int], size: int) -> None:
    img = np.full(shape, 9, np.uint16)
    out = resize_pad(img, size)
    assert out.shape == (size, size)
    assert out.dtype == np.uint16


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize("kwargs", [{"size": 7}, {"size": 4097}, {"clip_limit": 0.0},
                                    {"clip_limit": -1.0}, {"tile_grid": 0}])
def test_preprocess_config_invalid_values_raise(kwargs: dict) -> None:
    with pytest.raises(DataError):
        PreprocessConfig(**kwargs)


def test_preprocess_config_tag() -> None:
    assert PreprocessConfig().tag() == "64px-clahe2x8"
    assert PreprocessConfig(size=32, clip_limit=1.5, tile_grid=4).tag() == "32px-clahe1.5x4"
    assert PreprocessConfig(size=16, clahe=False).tag() == "16px-noclahe"
