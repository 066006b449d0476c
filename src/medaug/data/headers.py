"""What an image file's header says, read without decoding its pixels.

PNG and JPEG are walked chunk by chunk (segment by segment): the header gives the size and
tells whether the file is complete, i.e. whether its end marker (PNG ``IEND``, JPEG ``EOI``)
follows the image data. Bytes after the end marker (some scanners and PACS exports append
them) are allowed; a file cut short is not (OpenCV decodes partial files without a word).
Other formats (BMP, TIFF, ...) get their size from Pillow's lazy ``Image.open``, which reads
the header only.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
# Start-of-frame markers (the frame header holds the size); C4 (DHT), C8 (JPG) and CC (DAC)
# share the range but are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOS = 0xDA
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RST0-7, SOI: no length


@dataclass(frozen=True)
class Header:
    """An image file's header.

    Args:
        kind: ``"png"``, ``"jpeg"`` or ``"other"``.
        width, height: size in pixels, ``None`` when the header does not say.
        complete: ``False`` when the file ends before its end marker (PNG and JPEG only).
        pil_limit: for "other" files Pillow refused to open as a decompression bomb: the
            pixel count it refuses above; ``None`` otherwise.
    """

    kind: str
    width: int | None = None
    height: int | None = None
    complete: bool = True
    pil_limit: int | None = None


def read_header(data: bytes) -> Header:
    """The :class:`Header` of an encoded image ``data`` (the whole file)."""
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    if data.startswith(JPEG_SOI):
        return _jpeg(data)
    return _other(data)


def _png(data: bytes) -> Header:
    """Walk the chunks (length, type, data, CRC) up to ``IEND``."""
    width = height = None
    pos, n = len(PNG_SIGNATURE), len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n:
            break  # the chunk is cut short
        if kind == b"IHDR" and length >= 8:
            width = int.from_bytes(data[pos + 8 : pos + 12], "big")
            height = int.from_bytes(data[pos + 12 : pos + 16], "big")
        if kind == b"IEND":
            return Header("png", width, height, complete=True)
        pos = end
    return Header("png", width, height, complete=False)


def _jpeg(data: bytes) -> Header:
    """Walk the marker segments up to the first start of scan (SOS); after it the entropy-
    coded data cannot hold ``FF D9`` except as the real EOI (``FF`` is stuffed as ``FF 00``).
    Segments before SOS (an EXIF thumbnail in APP1, with its own SOI...EOI) are skipped by
    their lengths, so their markers never count."""
    width = height = None
    pos, n = len(JPEG_SOI), len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:  # not a marker where one must be: leave it to the decoder
            return Header("jpeg", width, height, complete=JPEG_EOI in data[pos:])
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == JPEG_EOI[1]:  # EOI before any scan: no image, the decoder says so
            return Header("jpeg", width, height, complete=True)
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF and pos + 9 <= n:
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
        if marker == _SOS:
            return Header("jpeg", width, height,
                          complete=data.find(JPEG_EOI, pos + 2 + length) >= 0)
        pos += 2 + length
    return Header("jpeg", width, height, complete=False)  # cut before the image data


def _other(data: bytes) -> Header:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we judge size
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        limit = Image.MAX_IMAGE_PIXELS
        return Header("other", pil_limit=2 * limit if limit else None)
    except Exception:  # not a format Pillow knows (or a damaged header): OpenCV decides
        return Header("other")
    return Header("other", width, height)
