"""DICOM decoding through pydicom.

``read_dicom`` returns the stored pixel data as a displayable 2-D image: rescale slope and
intercept applied, windowed (the file's VOI window when present, else a robust percentile
window) to ``uint8``, and MONOCHROME1 (where high values are dark) inverted so bone is bright
in every image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medaug.data.preprocess import DecodeError, to_uint8


def read_dicom(path: str | Path) -> np.ndarray:
    """Decode one DICOM file to a ``uint8`` array ``(H, W)``.

    Raises:
        DecodeError: not a DICOM file, no pixel data, or not a single 2-D frame.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
        pixels = ds.pixel_array
    except InvalidDicomError as exc:
        raise DecodeError(f"not a DICOM file ({exc})") from exc
    except (AttributeError, KeyError) as exc:
        raise DecodeError("DICOM file has no pixel data") from exc
    except Exception as exc:  # pydicom raises many types for damaged files
        raise DecodeError(f"unreadable DICOM file ({type(exc).__name__}: {exc})") from exc
    if pixels.ndim == 3 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise DecodeError(f"expected one 2-D grayscale frame, got pixel array {pixels.shape}")
    values = pixels.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    values = values * slope + intercept
    img = _window(values, ds)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = 255 - img
    return img


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
