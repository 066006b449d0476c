"""DICOM: order kept, MONOCHROME1 inverted, rescale and window applied, bad files rejected."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from helpers import write_png
from medaug.data.preprocess import DecodeError, decode
from medaug.data.sources.dicom import read_dicom
from medaug.data.sources.folder import read_folder


def empty_dicom() -> Dataset:
    """A secondary-capture dataset with file meta (explicit VR little endian), no pixels."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    return ds


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2",
                bits_stored: int = 16, **tags: object) -> Path:
    """A minimal single-frame 16-bit unsigned DICOM file (explicit VR little endian)."""
    ds = empty_dicom()
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.PixelData = pixels.astype("<u2").tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


RAMP = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 50 + 100)  # 100 .. 3250, row-major


def test_monochrome2_keeps_order(tmp_path: Path) -> None:
    img = read_dicom(write_dicom(tmp_path / "m2.dcm", RAMP, bits_stored=12))
    assert img.dtype == np.uint8
    assert img.shape == (8, 8)
    flat = img.reshape(-1).astype(int)
    assert (np.diff(flat) >= 0).all()  # brighter stored value -> brighter output
    assert flat[0] == 0
    assert flat[-1] == 255


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    m2 = read_dicom(write_dicom(tmp_path / "m2.dcm", RAMP))
    m1 = read_dicom(write_dicom(tmp_path / "m1.dcm", RAMP, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(m1, 255 - m2)
    assert m1[0, 0] == 255
    assert m1[-1, -1] == 0


def test_window_center_width_applied_exactly(tmp_path: Path) -> None:
    # Window 1000 +- 500: 500 -> 0, 750 -> 64, 1000 -> 128, 1500 -> 255; outside clipped.
    px = np.array([[100, 500, 750], [1000, 1500, 3000]], dtype=np.uint16)
    img = read_dicom(write_dicom(tmp_path / "w.dcm", px, WindowCenter=1000, WindowWidth=1000))
    np.testing.assert_array_equal(img, [[0, 0, 64], [128, 255, 255]])


def test_multi_valued_window_uses_first(tmp_path: Path) -> None:
    px = np.array([[500, 750, 1000, 1500]], dtype=np.uint16)
    img = read_dicom(write_dicom(tmp_path / "w2.dcm", px, WindowCenter=[1000, 40],
                                 WindowWidth=[1000, 400]))
    np.testing.assert_array_equal(img, [[0, 64, 128, 255]])


def test_window_is_in_rescaled_units(tmp_path: Path) -> None:
    # Stored 50/75/100/150 with slope 2, intercept -100 -> 0/50/100/200, window 100 +- 100.
    px = np.array([[50, 75], [100, 150]], dtype=np.uint16)
    img = read_dicom(write_dicom(tmp_path / "r.dcm", px, RescaleSlope=2, RescaleIntercept=-100,
                                 WindowCenter=100, WindowWidth=200))
    np.testing.assert_array_equal(img, [[0, 64], [128, 255]])
    # Without the rescale, the stored values in the same window would give 64/96/128/191.
    plain = read_dicom(write_dicom(tmp_path / "p.dcm", px, WindowCenter=100, WindowWidth=200))
    np.testing.assert_array_equal(plain, [[64, 96], [128, 191]])


def test_rescale_equals_prescaled_data(tmp_path: Path) -> None:
    stored = np.array([[100, 200, 300, 400]], dtype=np.uint16)
    scaled = read_dicom(write_dicom(tmp_path / "s.dcm", stored, RescaleSlope=2,
                                    RescaleIntercept=-100, WindowCenter=400, WindowWidth=400))
    pre = read_dicom(write_dicom(tmp_path / "pre.dcm", stored * 2 - 100, WindowCenter=400,
                                 WindowWidth=400))
    np.testing.assert_array_equal(scaled, pre)
    assert pre.tolist() == [[0, 64, 191, 255]]  # 100, 300, 500, 700 in window 200..600


def test_no_window_uses_percentile_window(tmp_path: Path) -> None:
    img = read_dicom(write_dicom(tmp_path / "nw.dcm", RAMP, WindowCenter=1000, WindowWidth=1))
    assert img.min() == 0  # width <= 1 is ignored: percentile window over the whole image
    assert img.max() == 255


def test_non_dicom_dcm_raises_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.dcm"
    path.write_text("not a dicom file at all")
    with pytest.raises(DecodeError, match="not a DICOM file"):
        read_dicom(path)
    with pytest.raises(DecodeError):
        decode(path)


def test_dicom_without_pixel_data_raises(tmp_path: Path) -> None:
    ds = empty_dicom()
    ds.PatientID = "X"
    path = tmp_path / "nopixels.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(DecodeError):
        read_dicom(path)


def test_decode_dispatches_dcm_and_extensionless_dicom(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", RAMP, WindowCenter=1000, WindowWidth=1000)
    expected = read_dicom(path)
    np.testing.assert_array_equal(decode(path), expected)
    upper = tmp_path / "B.DCM"
    upper.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(decode(upper), expected)
    bare = tmp_path / "IM0001"  # no suffix: recognised by the DICM preamble
    bare.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(decode(bare), expected)


def test_folder_reader_takes_patient_id_from_dicom_header(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_dicom(root / "abnormal" / "img1.dcm", RAMP, PatientID="PAT-9")
    write_dicom(root / "abnormal" / "img2.dcm", RAMP, PatientID="PAT-9")
    write_dicom(root / "normal" / "img3.dcm", RAMP)  # no PatientID: the file stem
    write_png(root / "normal" / "x.png", (8, 8))
    m = read_folder(root)
    pids = dict(zip(m.frame["path"].map(lambda p: Path(p).name), m.frame["patient_id"],
                    strict=True))
    assert pids == {"img1.dcm": "PAT-9", "img2.dcm": "PAT-9", "img3.dcm": "img3",
                    "x.png": "x"}


# ---------------------------------------------------------------------- size limits
def test_tiny_dicom_is_rejected_by_decode(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "tiny.dcm", np.arange(6, dtype=np.uint16).reshape(2, 3))
    assert read_dicom(path).shape == (2, 3)  # the reader itself keeps any size
    with pytest.raises(DecodeError, match=r"^image is 3x2 px, smaller than the 8 px minimum"):
        decode(path)


def test_dicom_over_pixel_cap_is_rejected_from_the_header(tmp_path: Path) -> None:
    # Rows x Columns say 30000x20000 (600 MP); the stored pixels are a few bytes only, so
    # the size must be judged before pydicom builds the pixel array.
    path = write_dicom(tmp_path / "huge.dcm", RAMP)
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 30000, 20000
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(DecodeError, match=r"^image is 20000x30000 px \(600 megapixels\), "
                                          r"over the 100-megapixel limit"):
        decode(path)


def test_dicom_pixel_cap_is_overridable(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "ramp.dcm", RAMP)
    with pytest.raises(DecodeError, match=r"^image is 8x8 px .*, over the "):
        read_dicom(path, max_pixels=32)


# ---------------------------------------------------------------------- compressed syntaxes
LIBJPEG = importlib.util.find_spec("libjpeg") is not None  # pylibjpeg-libjpeg
JPEG_SYNTAXES = [JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless]


def write_jpeg_dicom(path: Path, syntax: str) -> Path:
    """An 8x8 16-bit DICOM whose transfer syntax is ``syntax``, with a dummy encapsulated
    frame (SOI, EOI): enough for a reader to pick (or miss) a decoder."""
    ds = empty_dicom()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.Rows, ds.Columns = 8, 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.skipif(LIBJPEG, reason="pylibjpeg-libjpeg is installed: a decoder exists")
@pytest.mark.parametrize("syntax", JPEG_SYNTAXES, ids=lambda u: u.split(".")[-1])
def test_jpeg_lossless_without_a_decoder_names_the_syntax_and_the_extra(tmp_path: Path,
                                                                        syntax: str) -> None:
    path = write_jpeg_dicom(tmp_path / "jl.dcm", syntax)
    with pytest.raises(DecodeError) as exc:
        decode(path)
    reason = str(exc.value)
    assert reason.startswith("no DICOM decoder: ")
    assert syntax in reason
    assert "pip install 'medaug[dicom]'" in reason
    assert "\n" not in reason


@pytest.mark.skipif(not LIBJPEG, reason="needs pylibjpeg-libjpeg (pip install 'medaug[dicom]')")
@pytest.mark.parametrize("syntax", JPEG_SYNTAXES, ids=lambda u: u.split(".")[-1])
def test_jpeg_lossless_with_a_decoder_is_not_a_missing_decoder(tmp_path: Path,
                                                               syntax: str) -> None:
    path = write_jpeg_dicom(tmp_path / "jl.dcm", syntax)
    with pytest.raises(DecodeError) as exc:  # the dummy frame itself does not decode
        decode(path)
    assert "medaug[dicom]" not in str(exc.value)
