"""The registry of sky populations and the size presets of the synthetic sky.

A population says what kind of object it is, which generator makes it, whether DESI
observed it (and in which program) and where it lies. Not for the physics.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SkyPopulation", "SKY_POPULATIONS", "SkyPreset", "PRESETS"]


@dataclass(frozen=True)
class SkyPopulation:
    """One population of the synthetic sky.

    Attributes
    ----------
    name : str
    spectype : {'GALAXY', 'STAR', 'QSO'}
    generator : {'galaxy', 'star', 'qso'}
    sample : str
        Sub-sample passed to the generator (e.g. 'BGS' for galaxies).
    in_desi : bool
        Observed spectroscopically by DESI (labelled); else a J-PAS-only object.
    program : str
        DESI program ('bright' or 'dark'); '' for J-PAS-only objects.
    mag_range : tuple
        Target r magnitude range [AB] for stars and QSOs.
    """

    name: str
    spectype: str
    generator: str
    sample: str = ""
    in_desi: bool = True
    program: str = ""
    mag_range: tuple = ()


SKY_POPULATIONS = {
    p.name: p for p in (
        SkyPopulation("BGS", "GALAXY", "galaxy", "BGS", True, "bright"),
        SkyPopulation("LRG", "GALAXY", "galaxy", "LRG", True, "dark"),
        SkyPopulation("ELG", "GALAXY", "galaxy", "ELG", True, "dark"),
        SkyPopulation("QSO", "QSO", "qso", "", True, "dark", (17.0, 22.5)),
        SkyPopulation("MWS", "STAR", "star", "", True, "bright", (15.0, 19.5)),
        # Stars that DESI's dark-time QSO/ELG/LRG selections let in and observed: faint and labelled.
        SkyPopulation("FAINT_STAR", "STAR", "star", "", True, "dark", (19.5, 23.0)),
        SkyPopulation("JPAS_GALAXY", "GALAXY", "galaxy", "FAINT", False),
        SkyPopulation("JPAS_STAR", "STAR", "star", "", False, "", (18.0, 23.0)),
        SkyPopulation("JPAS_QSO", "QSO", "qso", "", False, "", (20.0, 23.0)),
    )
}


@dataclass(frozen=True)
class SkyPreset:
    """Sizes of a synthetic sky.

    Attributes
    ----------
    counts : dict
        Objects per population (see `SKY_POPULATIONS`).
    jpas_tile_columns : int
        1° RA columns of J-PAS tiles over the 20°×10° DESI area (fraction = columns/20).
    shard_size : int
        Objects per shard (the unit of parallel work and of resuming).
    spectrum_dlam : float
        Sampling of the written DESI coadd spectra [Å] (DESI's native is 0.8 Å).
    """

    counts: dict
    jpas_tile_columns: int
    shard_size: int = 1000
    spectrum_dlam: float = 4.0


PRESETS = {
    "tiny": SkyPreset(
        counts={"BGS": 450, "LRG": 200, "ELG": 250, "QSO": 300, "MWS": 300, "FAINT_STAR": 100,
                "JPAS_GALAXY": 400, "JPAS_STAR": 60, "JPAS_QSO": 40},
        jpas_tile_columns=10, shard_size=250),
    "default": SkyPreset(
        counts={"BGS": 32000, "LRG": 15000, "ELG": 19000, "QSO": 14000, "MWS": 20000, "FAINT_STAR": 6000,
                "JPAS_GALAXY": 54000, "JPAS_STAR": 6000, "JPAS_QSO": 4000},
        jpas_tile_columns=5, shard_size=1000),
}
