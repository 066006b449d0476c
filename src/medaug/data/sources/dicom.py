"""DICOM decoding through pydicom.

``read_dicom`` returns the stored pixel data as a displayable 2-D image: rescale slope and
intercept applied, windowed (the file's VOI window when present, else a robust percentile
window) to ``uint8``, and MONOCHROME1 (where high values are dark) inverted so bone is bright
in every image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medaug.data.preprocess import MAX_PIXELS, DecodeError, check_size, to_uint8

#: Transfer syntaxes that pydicom decodes through pylibjpeg + pylibjpeg-libjpeg (or GDCM):
#: JPEG Lossless (Process 14, and its Selection Value 1), JPEG-LS lossless and near-lossless.
PYLIBJPEG_SYNTAXES: frozenset[str] = frozenset({
    "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
})
EXTRA_HINT = "pip install 'medaug[dicom]'"


def read_dicom(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode one DICOM file to a ``uint8`` array ``(H, W)``.

    ``Rows`` x ``Columns`` and the transfer syntax are checked before the pixel data is
    decoded: a huge image is refused without allocating it, and a compressed syntax without
    an installed decoder is named with what to install.

    Args:
        max_pixels: largest accepted ``Rows * Columns`` (default
            :data:`medaug.data.preprocess.MAX_PIXELS`); any size below is kept here (
            :func:`medaug.data.preprocess.decode` applies the minimum side).

    Raises:
        DecodeError: not a DICOM file, no pixel data, too many pixels, no decoder for the
            transfer syntax, or not a single 2-D frame.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
    except InvalidDicomError as exc:
        raise DecodeError(f"not a DICOM file ({_one_line(exc)})", "not DICOM") from exc
    except Exception as exc:  # pydicom raises many types for damaged files
        raise DecodeError(f"unreadable DICOM file ({type(exc).__name__}: {_one_line(exc)})",
                          "unreadable DICOM") from exc
    _check_header(ds, MAX_PIXELS if max_pixels is None else max_pixels)
    try:
        pixels = ds.pixel_array
    except (AttributeError, KeyError) as exc:
        raise DecodeError("DICOM file has no pixel data", "no pixel data") from exc
    except Exception as exc:  # pydicom raises many types for damaged files
        raise DecodeError(f"unreadable DICOM file ({type(exc).__name__}: {_one_line(exc)})",
                          "unreadable DICOM") from exc
    if pixels.ndim == 3 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise DecodeError(f"expected one 2-D grayscale frame, got pixel array {pixels.shape}",
                          "not 2-D")
    values = pixels.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    values = values * slope + intercept
    img = _window(values, ds)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = 255 - img
    return img


def _check_header(ds: Any, max_pixels: int) -> None:
    """Size, frame count and decoder availability, from the header alone."""
    if "PixelData" not in ds:
        raise DecodeError("DICOM file has no pixel data", "no pixel data")
    rows, cols = getattr(ds, "Rows", None), getattr(ds, "Columns", None)
    if rows is not None and cols is not None and int(rows) * int(cols) > max_pixels:
        check_size(int(cols), int(rows), max_pixels)
    frames = getattr(ds, "NumberOfFrames", None)
    if frames not in (None, "") and int(frames) > 1:
        raise DecodeError(f"expected one 2-D grayscale frame, got {int(frames)} frames",
                          "not 2-D")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        return
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(str(syntax))
    where = f"transfer syntax {uid.name} ({uid})" if uid.name != str(uid) else \
        f"transfer syntax {uid}"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as exc:
        raise DecodeError(f"no DICOM decoder: pydicom cannot decode {where}",
                          "no DICOM decoder") from exc
    if decoder.is_available:
        return
    if uid in PYLIBJPEG_SYNTAXES:
        need = f"pylibjpeg, which is not installed; {EXTRA_HINT}"
    else:
        need = "one of: " + "; ".join(decoder.missing_dependencies)
    raise DecodeError(f"no DICOM decoder: {where} needs {need}", "no DICOM decoder")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _window(values: np.ndarray, ds: object) -> np.ndarray:
    center = _first(getattr(ds, "WindowCenter", None))
    width = _first(getattr(ds, "WindowWidth", None))
    if center is None or width is None or width <= 1:
        return to_uint8(values)
    lo, hi = center - width / 2.0, center + width / 2.0
    out = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    return (out * 255.0 + 0.5).astype(np.uint8)


def _first(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) \
            else float(value)  # type: ignore[index,arg-type]
    except (TypeError, ValueError, IndexError):
        return None
