"""Test-wide fixtures: a private cache folder, tiny synthetic images, the shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from medaug.paths import DATA_ENV


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> None:
    """Every test writes caches to a temporary folder, never into the project or the data."""
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For module-scoped fixtures, which run before the autouse cache fixture: the same cache
    folder for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture
def shared_data() -> Path:
    """The shared real data folder; the test is skipped when it is absent."""
    value = os.environ.get(DATA_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{DATA_ENV} is not set to the shared data folder")
    return Path(value)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty folder no one may write into (0o555), made writable again afterwards; the
    test is skipped as root, whom 0o555 does not stop."""
    if os.geteuid() == 0:
        pytest.skip("running as root: a 0o555 folder does not stop root from writing")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def require_service(message: str) -> None:
    """Skip with ``message`` (how to get the service), or fail where ``.ci/run`` demands every
    service (``MEDAUG_REQUIRE_SERVICES=1``)."""
    if os.environ.get("MEDAUG_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (MEDAUG_REQUIRE_SERVICES=1: CI must run this test)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL server's URL for store tests (``MEDAUG_TEST_POSTGRES``)."""
    url = os.environ.get("MEDAUG_TEST_POSTGRES")
    if not url:
        require_service("no PostgreSQL server: run `eval \"$(scripts/services.sh)\"` (installs "
                        "Debian's postgresql and starts it on loopback) to set "
                        "MEDAUG_TEST_POSTGRES")
    return url
