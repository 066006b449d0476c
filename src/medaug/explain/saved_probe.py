"""The logistic probe ``medaug probe`` saved in an evaluation folder
(``probes/<model>.npz``, :func:`medaug.store.save_probe`), found for an encoder by its weights
SHA-256 and checked against the data's fingerprint, so that ``medaug explain --probe FOLDER``
explains the very probe that was evaluated instead of fitting one again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medaug.errors import ConfigError
from medaug.evaluate.encoders import Encoder
from medaug.evaluate.probe import LogisticProbe
from medaug.store import PROBES_DIR, load_probe


@dataclass(frozen=True)
class SavedProbe:
    """A probe read back from an evaluation folder: the probe, its meta (weights SHA-256,
    data fingerprint, C, threshold, ...) and the file it came from."""

    probe: LogisticProbe
    meta: dict[str, Any]
    path: Path


def check_probe_folder(folder: Path) -> Path:
    """``folder/probes`` when it holds saved probes.

    Raises:
        ConfigError: no such folder, or no ``probes/*.npz`` in it.
    """
    where = Path(folder) / PROBES_DIR
    if not any(where.glob("*.npz")):
        raise ConfigError(f"{folder}: no saved probes ({PROBES_DIR}/*.npz); give the --out "
                          "folder of a `medaug probe` run, or leave out --probe to fit one")
    return where


def saved_probe(folder: Path, encoder: Encoder, fingerprint: str) -> SavedProbe:
    """The probe of ``encoder`` (matched by weights SHA-256) saved in evaluation folder
    ``folder``, fitted on the data of ``fingerprint``.

    Raises:
        ConfigError: no probe of these encoder weights there, one fitted on other data, or a
            file that is not a medaug probe (one line naming the file).
    """
    files = sorted(check_probe_folder(folder).glob("*.npz"))
    loaded = [(path, *load_probe(path)) for path in files]
    same = [(p, a, m) for p, a, m in loaded if m.get("weights_sha256") == encoder.sha256]
    if not same:
        raise ConfigError(f"{Path(folder) / PROBES_DIR}: no probe of {encoder.name}'s encoder "
                          f"(weights SHA-256 {encoder.sha256[:12]}); its probes are of "
                          f"{', '.join(str(m.get('model')) for _, _, m in loaded)}")
    for path, arrays, meta in same:
        if meta.get("data_fingerprint") == fingerprint:
            try:
                return SavedProbe(LogisticProbe.from_arrays(arrays), meta, path)
            except ValueError as exc:
                raise ConfigError(f"{path}: not a logistic probe ({exc})") from exc
    path, _, meta = same[0]
    raise ConfigError(f"{path}: fitted on other data (fingerprint "
                      f"{str(meta.get('data_fingerprint'))[:12]}, here {fingerprint[:12]}); "
                      "explain on the probe's data or run `medaug probe` on this data")
