"""Decode one image (8/16-bit PNG, JPEG, DICOM) and bring it to the cache's form.

``decode`` gives a 2-D array ``(H, W)`` of ``uint8`` or ``uint16``; ``to_uint8`` windows 16-bit
data to 8 bit (robust 0.5-99.5 percentile window); ``apply_clahe`` runs OpenCV's CLAHE;
``resize_pad`` resizes keeping the aspect ratio and pads to an ``N x N`` square.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from medaug.errors import DataError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".dcm", ".bmp", ".tif", ".tiff")


class DecodeError(DataError):
    """One file could not be decoded; the message is the reason (the caller adds the path)."""


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


def decode(path: str | Path) -> np.ndarray:
    """Read an image file as a 2-D ``uint8`` or ``uint16`` array ``(H, W)``.

    Colour files (including RGB copies of grayscale) become one channel. DICOM goes through
    :func:`medaug.data.sources.dicom.read_dicom`.

    Raises:
        DecodeError: zero-byte, truncated, unreadable or non-image file.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DecodeError("zero-byte file")
    if p.suffix.lower() == ".dcm" or _is_dicom(p):
        from medaug.data.sources.dicom import read_dicom

        return read_dicom(p)
    data = np.fromfile(p, dtype=np.uint8)
    if _is_truncated(data):
        raise DecodeError("truncated image file")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DecodeError("not a readable image (OpenCV could not decode it)")
    return _to_gray(img)


def _is_dicom(p: Path) -> bool:
    if p.suffix:
        return False
    with p.open("rb") as fh:
        head = fh.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _is_truncated(data: np.ndarray) -> bool:
    """A PNG must end with its IEND chunk and a JPEG with EOI (OpenCV decodes partial files).
    Only files that start like a PNG or JPEG are checked; anything else is left to the
    decoder, which rejects non-images."""
    head = data[:8].tobytes()
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" not in data[-12:].tobytes()
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" not in data[-64:].tobytes()
    return False


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
