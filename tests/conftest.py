"""Shared fixtures: one tiny synthetic sky per test session (built in ~15 s)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_sky(tmp_path_factory):
    """Path of a tiny sky built once for the whole session (seed 42)."""
    from ojala_core.sky.build import build_sky

    path = tmp_path_factory.mktemp("sky") / "tiny"
    build_sky(path, "tiny", 42, workers=2)
    return path


@pytest.fixture(scope="session")
def tiny_mocks(tiny_sky, tmp_path_factory):
    """(folder, manifest) of the mocks of the tiny sky (seed 1)."""
    from ojala_core.mocks.build import MockInputs, build_mocks

    out = tmp_path_factory.mktemp("mocks")
    return out, build_mocks(MockInputs.from_sky(tiny_sky), out, seed=1)


@pytest.fixture(scope="session")
def tiny_vac(tiny_sky, tiny_mocks, tmp_path_factory):
    """Folder of the VAC of the tiny sky's J-PAS catalogue made with the shipped model, on the synthetic
    system through the tiny mocks' zero points (as `make run` makes the default VAC)."""
    from pathlib import Path

    from ojala_core.vac.produce import produce_vac
    from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints

    out = tmp_path_factory.mktemp("vac") / "vac"
    model = Path(__file__).resolve().parent.parent / "models" / "ojala-small"
    produce_vac(model, tiny_sky / "jpas" / "jpas-catalogue.fits", out, chunk_rows=500,
                zero_points=ZeroPoints.load(tiny_mocks[0] / ZERO_POINTS_FILE))
    return out
