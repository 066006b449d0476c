"""Decode one image (8/16-bit PNG, JPEG, DICOM) and bring it to the cache's form.

``decode`` gives a 2-D array ``(H, W)`` of ``uint8`` or ``uint16``; ``to_uint8`` windows 16-bit
data to 8 bit (robust 0.5-99.5 percentile window); ``apply_clahe`` runs OpenCV's CLAHE;
``resize_pad`` resizes keeping the aspect ratio and pads to an ``N x N`` square.

Before any pixel is decoded the header is checked: a file cut short is rejected, and so is an
image with a side under :data:`MIN_SIDE` or more than :data:`MAX_PIXELS` pixels (a 390 KB PNG
can hold 20000x20000 px, 400 MB once decoded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from medaug.data.headers import read_header
from medaug.errors import DataError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".dcm", ".bmp", ".tif", ".tiff")
#: Smallest accepted side in pixels: anything smaller is an icon or a placeholder, not an X-ray.
MIN_SIDE = 8
#: Largest accepted image in pixels (the default of ``decode``'s ``max_pixels``); a 43x43 cm
#: detector at 100 um is about 18.5 megapixels.
MAX_PIXELS = 100_000_000


class DecodeError(DataError):
    """One file could not be decoded; the message is the reason (the caller adds the path).

    Args:
        reason: one line.
        category: a short stable name for counting rejections by kind ("truncated",
            "too small", "too large", "zero-byte", ...).
    """

    def __init__(self, reason: str, category: str = "unreadable") -> None:
        super().__init__(reason)
        self.category = category

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (str(self), self.category)


@dataclass(frozen=True)
class PreprocessConfig:
    """How the cache is made from decoded images.

    Args:
        size: side of the square output in pixels.
        clahe: apply CLAHE (contrast-limited adaptive histogram equalisation) before resizing.
        clip_limit: CLAHE clip limit (OpenCV's ``clipLimit``).
        tile_grid: CLAHE tiles per side (OpenCV's ``tileGridSize``).
    """

    size: int = 64
    clahe: bool = True
    clip_limit: float = 2.0
    tile_grid: int = 8

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 4096:
            raise DataError(f"image size must be between 8 and 4096 px, got {self.size}")
        if self.clip_limit <= 0 or self.tile_grid < 1:
            raise DataError(
                f"CLAHE needs clip_limit > 0 and tile_grid >= 1, got {self.clip_limit}, "
                f"{self.tile_grid}"
            )

    def tag(self) -> str:
        """A short readable tag for cache folder names, e.g. ``64px-clahe2.0x8``."""
        c = f"clahe{self.clip_limit:g}x{self.tile_grid}" if self.clahe else "noclahe"
        return f"{self.size}px-{c}"


def decode(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as a 2-D ``uint8`` or ``uint16`` array ``(H, W)``.

    Colour files (including RGB copies of grayscale) become one channel. DICOM goes through
    :func:`medaug.data.sources.dicom.read_dicom`. The size is checked from the header before
    decoding (and again after, for formats whose header was not read).

    Args:
        max_pixels: largest accepted width x height (default :data:`MAX_PIXELS`).

    Raises:
        DecodeError: zero-byte, truncated, unreadable or non-image file, a side under
            :data:`MIN_SIDE` px, or more than ``max_pixels`` pixels.
    """
    p = Path(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DecodeError("zero-byte file", "zero-byte")
    if p.suffix.lower() == ".dcm" or _is_dicom(p):
        from medaug.data.sources.dicom import read_dicom

        img = read_dicom(p, max_pixels=limit)
    else:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
        header = read_header(data)
        if header.pil_limit is not None:
            raise DecodeError(f"image is over {header.pil_limit / 1e6:.4g} megapixels "
                              "(Pillow's decompression-bomb limit)", "too large")
        if header.width is not None and header.height is not None:
            check_size(header.width, header.height, limit)
        if not header.complete:
            end = "IEND chunk" if header.kind == "png" else "end-of-image marker"
            raise DecodeError(f"truncated image file (ends before its {end})", "truncated")
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise DecodeError("not a readable image (OpenCV could not decode it)",
                              "not an image")
        img = _to_gray(decoded)
    check_size(img.shape[1], img.shape[0], limit)
    return img


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise unless both sides are at least :data:`MIN_SIDE` and ``width * height`` is at
    most ``max_pixels``.

    Raises:
        DecodeError: category "too small" or "too large"; the reason names the size.
    """
    if min(width, height) < MIN_SIDE:
        raise DecodeError(f"image is {width}x{height} px, smaller than the {MIN_SIDE} px "
                          "minimum", "too small")
    if width * height > max_pixels:
        raise DecodeError(f"image is {width}x{height} px ({width * height / 1e6:.4g} "
                          f"megapixels), over the {max_pixels / 1e6:.4g}-megapixel limit",
                          "too large")


def _is_dicom(p: Path) -> bool:
    if p.suffix:
        return False
    with p.open("rb") as fh:
        head = fh.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _to_gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        img = img[:, :, 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype not in (np.uint8, np.uint16):
        img = to_uint8(img.astype(np.float64))
    return np.ascontiguousarray(img)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Window any array to ``uint8``: 8-bit passes through, others are scaled from their
    0.5-99.5 percentile range (robust to a few hot pixels)."""
    if img.dtype == np.uint8:
        return img
    lo, hi = np.percentile(img, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    out = (img.astype(np.float64) - lo) / (hi - lo)
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def apply_clahe(img: np.ndarray, clip_limit: float = 2.0, tile_grid: int = 8) -> np.ndarray:
    """CLAHE on a ``uint8`` image ``(H, W)``; returns ``uint8`` ``(H, W)``."""
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile_grid, tile_grid))
    return clahe.apply(img)


def resize_pad(img: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(H, W)`` so the longer side is ``size`` (aspect kept), then pad with zeros to
    ``(size, size)``, centred. Area interpolation when shrinking, bilinear when growing."""
    h, w = img.shape
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.zeros((size, size), dtype=img.dtype)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = img
    return out


def preprocess(img: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Decoded ``(H, W)`` image -> ``uint8`` ``(size, size)``: 8-bit window, CLAHE, resize+pad.

    CLAHE runs at the native resolution, before the resize, as a radiologist's viewer would.
    """
    img8 = to_uint8(img)
    if config.clahe:
        img8 = apply_clahe(img8, config.clip_limit, config.tile_grid)
    return resize_pad(img8, config.size)
