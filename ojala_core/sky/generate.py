"""One shard of the synthetic sky: draw objects, make spectra, observe them with DESI and J-PAS.

Pure with respect to files except the two outputs of a shard (a Parquet table of all
columns and, for DESI objects, a coadd spectra file). Not for merging or manifests.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import COSMOLOGY, MPC_CM
from ..diagnostics import bpt_class, whan_class
from ..io.files import write_parquet
from ..lines import lines_with_ew
from ..photometry import PhotometricSystem, ab_magnitude, log_wavelength_grid, redshift_to_grid
from . import desi, galaxies, qso, stars
from .jpas_system import JPAS_BANDS, JpasFootprint, JpasObservingSystem
from .populations import SKY_POPULATIONS, SkyPreset

__all__ = ["ShardSpec", "build_shard", "TARGETID_BASE", "NOMINAL_BANDS"]

TARGETID_BASE = 39627000000000000  # DESI-like 64-bit TARGETIDs (beyond 2^53 on purpose)
NOMINAL_BANDS = JPAS_BANDS + [f for _, f, _ in desi.LEGACY_BANDS]
DETECTION_SNR = 5.0                 # J-PAS detection in iSDSS (AUTO)
ASTROMETRIC_SCATTER_ARCSEC = 0.15
QSO_EXTENDED_HOST_FRACTION = 0.5     # host share of a QSO's r-band light beyond which Legacy sees it extended


@dataclass(frozen=True)
class ShardSpec:
    population: str
    index: int          # shard number within the population
    first_id: int       # OBJECT_ID of the shard's first object
    size: int

    @property
    def name(self) -> str:
        return f"{self.population}-{self.index:04d}"


@functools.cache
def _nominal_system() -> PhotometricSystem:
    return PhotometricSystem.from_names(NOMINAL_BANDS, log_wavelength_grid()[1])


@functools.cache
def _galaxy_engine() -> galaxies.GalaxySpectrumEngine:
    return galaxies.GalaxySpectrumEngine()


def _normalise_to_r(flambda, mag_r):
    """Scale spectra (n, n_grid) so that their DECam r magnitude is `mag_r`."""
    system = _nominal_system()
    r = system.ab_magnitudes(flambda)[:, NOMINAL_BANDS.index("DECam_r")]
    return flambda * 10 ** (-0.4 * (mag_r - r))[:, None]


def _make_galaxies(rng, n, sample):
    params = galaxies.sample_galaxy_population(rng, n, sample)
    result = _galaxy_engine().run(params)
    edges = _nominal_system().edges
    flambda = redshift_to_grid(result.wavelength_rest, result.spectrum, params["Z"], edges)
    # A model's spectrum is linear in its mass: rescale mass, SFR and fluxes together so the
    # sample has exactly its drawn r magnitudes (EWs, sSFR and colours are unchanged).
    r = _nominal_system().ab_magnitudes(flambda)[:, NOMINAL_BANDS.index("DECam_r")]
    log_scale = -0.4 * (params["MAG_R_TARGET"] - r)
    flambda *= 10 ** log_scale[:, None]
    truth = dict(result.truth)
    truth["LOGM"] = truth["LOGM"] + log_scale
    truth["LOGSFR"] = truth["LOGSFR"] + log_scale
    for key in list(truth):
        if key.endswith(("_FLUX", "_CONT_FLAMBDA")):
            truth[key] = truth[key] * 10 ** log_scale
    for key in ("AGN_TYPE", "QUENCHED", "SFH_FAMILY"):
        truth[key] = params[key]
    scale = COSMOLOGY.angular_diameter_distance(params["Z"]).value * 1e3 / 206265.0  # kpc/arcsec
    r_eff = params["R_EFF_KPC"] / scale
    return params["Z"], flambda, truth, r_eff, np.zeros(n, bool), params["QUENCHED"]


def _make_stars(rng, n, mag_range):
    p = stars.sample_stellar_population(rng, n)
    lo, hi = mag_range
    mag_r = lo + (p["MAG_R"] - 15.0) / 4.5 * (hi - lo)
    wave = _nominal_system().wavelength
    flambda = _normalise_to_r(stars.stellar_spectrum(wave, p["TEFF"], p["LOGG"], p["FEH"], p["ALPHAFE"]), mag_r)
    truth = {k: p[k] for k in ("TEFF", "LOGG", "FEH", "ALPHAFE")}
    truth["STELLAR_POPULATION"], truth["STELLAR_STAGE"] = p["POPULATION"], p["STAGE"]
    z = rng.normal(0.0, 40.0, n) / 2.998e5  # radial velocities ~40 km/s
    return z, flambda, truth, np.zeros(n), np.ones(n, bool), np.zeros(n, bool)


def _make_qsos(rng, n, mag_range):
    p = qso.sample_qso_population(rng, n, mag_range)
    engine = _galaxy_engine()
    lam = engine.wavelength_rest
    keep = lam > 300.0
    lam = lam[keep]
    z = p["Z"]
    edges = _nominal_system().edges
    shape = qso.qso_spectrum(lam, z, p)
    agn = redshift_to_grid(lam, shape, z, edges)
    # The AGN carries (1 − HOST_FRACTION_R) of the target r-band flux, the host (added below) the rest.
    share = p["HOST_FRACTION_R"]
    r_mag = _nominal_system().ab_magnitudes(agn)[:, NOMINAL_BANDS.index("DECam_r")]
    scale = 10 ** (-0.4 * (p["MAG_R"] - r_mag)) * (1 - share)
    d_l = COSMOLOGY.luminosity_distance(z).value * MPC_CM
    l3000 = qso.log_l3000(lam, shape * scale[:, None], z, d_l)
    # With L3000 known, the Baldwin effect sets the line strengths of the final spectrum.
    agn_rest = qso.qso_spectrum(lam, z, p, log_l3000=l3000) * scale[:, None]
    # Host galaxies of low-z QSOs (the source of the real low-z QSO/galaxy confusion), scaled so
    # that the host carries its drawn share of the r-band light and the total keeps MAG_R.
    hosted = np.flatnonzero(share > 0)
    total = agn_rest
    r_eff, point = np.zeros(n), np.ones(n, bool)
    if len(hosted):
        hp = galaxies.sample_galaxy_population(rng, len(hosted), "BGS", z=z[hosted])
        host = engine.run(hp).spectrum[:, keep]
        r_band = NOMINAL_BANDS.index("DECam_r")
        host_r = _nominal_system().fnu(redshift_to_grid(lam, host, z[hosted], edges))[:, r_band]
        agn_r = _nominal_system().fnu(redshift_to_grid(lam, agn_rest[hosted], z[hosted], edges))[:, r_band]
        f = share[hosted]
        total = agn_rest.copy()
        total[hosted] += host * (f / (1 - f) * agn_r / host_r)[:, None]
        # Where the host gives most of the r-band light Legacy sees the QSO extended (REX/EXP), of
        # the host's size; otherwise a point source.
        extended = f > QSO_EXTENDED_HOST_FRACTION
        kpc_per_arcsec = COSMOLOGY.angular_diameter_distance(z[hosted]).value * 1e3 / 206265.0
        r_eff[hosted[extended]] = (hp["R_EFF_KPC"] / kpc_per_arcsec)[extended]
        point[hosted[extended]] = False
    flambda = redshift_to_grid(lam, total, z, edges)
    log_mbh_virial = qso.virial_log_mbh(p["FWHM_BROAD"], l3000)
    truth = {"LOG_L3000": l3000, "FWHM_MGII": p["FWHM_BROAD"],
             "LOG_MBH": log_mbh_virial + 0.3 * rng.standard_normal(n),
             "LOG_MBH_VIRIAL": log_mbh_virial, "HAS_HOST": share > 0,
             "HOST_FRACTION_R": share}
    return z, flambda, truth, r_eff, point, np.zeros(n, bool)


def observe_objects(rng, flambda, r_eff, point, quenched, ra, dec, footprint: JpasFootprint,
                    system: JpasObservingSystem) -> dict:
    """What the surveys see of objects with spectra `flambda` (n, nominal grid) at (ra, dec):
    synthetic magnitudes (MAG_SYN_*), Legacy fluxes and MORPHTYPE, and the J-PAS observation by
    `system` in the tile of each position (TILE_ID, IN_JPAS, ALPHA/DELTA_J2000 with astrometric
    scatter). Used for the sky and for spectra from outside it (`ojala_core.realism`)."""
    n = len(flambda)
    table = {}
    fnu = _nominal_system().fnu(flambda)
    mags = ab_magnitude(fnu)
    for j, band in enumerate(NOMINAL_BANDS):
        table[f"MAG_SYN_{band}"] = mags[:, j]
    legacy = desi.legacy_photometry(rng, fnu[:, len(JPAS_BANDS):], point)
    table.update(legacy)
    table["MORPHTYPE"] = desi.morphological_type(rng, r_eff, quenched, point, table["MAG_SYN_DECam_r"])

    tile = footprint.tile_of(ra, dec)
    in_tiles = tile > 0
    obs = system.observe(rng, flambda[in_tiles], tile[in_tiles], r_eff[in_tiles], point[in_tiles])
    for key, values in obs.items():
        values = np.asarray(values)
        column = np.full(n, np.nan if values.dtype.kind == "f" else 0, dtype=values.dtype)
        column[in_tiles] = values
        table[key] = column
    detected = in_tiles & (table["SNR_AUTO_iSDSS"] >= DETECTION_SNR)
    table["TILE_ID"] = np.where(in_tiles, 2000 + tile, -1)
    table["IN_JPAS"] = detected
    jitter = ASTROMETRIC_SCATTER_ARCSEC / 3600.0
    table["ALPHA_J2000"] = ra + jitter * rng.standard_normal(n) / np.cos(np.radians(dec))
    table["DELTA_J2000"] = dec + jitter * rng.standard_normal(n)

    return table


def build_shard(spec: ShardSpec, preset: SkyPreset, seed: int, out_dir: Path,
                footprint: JpasFootprint, system: JpasObservingSystem) -> Path:
    """Generate one shard and write it; returns the Parquet path."""
    pop = SKY_POPULATIONS[spec.population]
    pop_number = list(SKY_POPULATIONS).index(pop.name)
    rng = np.random.default_rng([seed, pop_number, spec.index])
    n = spec.size
    if pop.generator == "galaxy":
        z, flambda, truth, r_eff, point, quenched = _make_galaxies(rng, n, pop.sample)
    elif pop.generator == "star":
        z, flambda, truth, r_eff, point, quenched = _make_stars(rng, n, pop.mag_range)
    else:
        z, flambda, truth, r_eff, point, quenched = _make_qsos(rng, n, pop.mag_range)

    ids = spec.first_id + np.arange(n, dtype=np.int64)
    ra, dec = (footprint.draw_desi_positions if pop.in_desi else footprint.draw_jpas_positions)(rng, n)
    table = {"OBJECT_ID": ids, "POPULATION": np.full(n, pop.name), "SPECTYPE": np.full(n, pop.spectype),
             "RA": ra, "DEC": dec, "Z": z, "R_EFF_ARCSEC": r_eff}

    table.update(observe_objects(rng, flambda, r_eff, point, quenched, ra, dec, footprint, system))
    i_flambda = _nominal_system().flambda_mean(flambda)[:, NOMINAL_BANDS.index("iSDSS")]
    table.update(_truth_columns(pop, truth, z, i_flambda, n))

    table["IN_DESI"] = np.full(n, pop.in_desi)
    # Every shard carries int64 TARGETIDs (-1: not in DESI): a column missing from some
    # shards would be upcast to float64 on merging and lose the low bits of the IDs.
    table["TARGETID"] = desi_targetid(ids) if pop.in_desi else np.full(n, -1, dtype=np.int64)
    if pop.in_desi:
        table.update(_desi_columns(rng, pop, preset, spec, out_dir, table, truth, flambda, r_eff, z))
    frame = pd.DataFrame(table)
    path = out_dir / "shards" / f"{spec.name}.parquet"
    write_parquet(path, frame)
    return path


def _truth_columns(pop, truth, z, i_flambda, n):
    out = {}
    if pop.generator == "galaxy":
        out["LOGM"], out["LOGSFR"] = truth["LOGM"], truth["LOGSFR"]
        for ln in lines_with_ew():
            out[ln.ew_token] = truth[f"{ln.name}_EW"]
            out[f"{ln.name}_FLUX"] = truth[f"{ln.name}_FLUX"]
            out[f"{ln.name}_CONT_FLAMBDA"] = truth[f"{ln.name}_CONT_FLAMBDA"]
            if ln.owns_continuum:
                out[ln.continuum_token] = truth[f"{ln.name}_CONT_FLAMBDA"] / i_flambda
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log10(truth["NII_6584_FLUX"] / truth["HALPHA_FLUX"])
            y = np.log10(truth["OIII_5007_FLUX"] / truth["HBETA_FLUX"])
        out["LOG_NII_HA"], out["LOG_OIII_HB"] = x, y
        out["BPT_CLASS"] = bpt_class(x, y, "Ke01")
        out["WHAN_CLASS"] = whan_class(x, truth["HALPHA_EW"])
        out["AGN_TYPE"] = truth["AGN_TYPE"]
        out["AGN_HA_FRACTION"] = truth["AGN_HA_FRACTION"]
        out["QUENCHED"] = truth["QUENCHED"]
        out["SFH_FAMILY"] = truth["SFH_FAMILY"]
    elif pop.generator == "star":
        out.update({k: truth[k] for k in ("TEFF", "LOGG", "FEH", "ALPHAFE", "STELLAR_POPULATION", "STELLAR_STAGE")})
    else:
        out.update({k: truth[k] for k in ("LOG_L3000", "FWHM_MGII", "LOG_MBH", "LOG_MBH_VIRIAL", "HAS_HOST",
                                          "HOST_FRACTION_R")})
    return out


def _desi_columns(rng, pop, preset, spec, out_dir, table, truth, flambda, r_eff, z):
    n = len(z)
    out = {}
    z_obs, zerr, zwarn = desi.measure_redshift(rng, z, np.full(n, pop.spectype))
    out.update({"DESI_Z": z_obs, "ZERR": zerr, "ZWARN": zwarn, "PROGRAM": np.full(n, pop.program)})
    fiber = desi.fiber_fraction(r_eff)
    out["FIBER_FRACTION"] = fiber
    program = np.full(n, pop.program)
    spectra = desi.observe_spectra(rng, _nominal_system().edges, flambda, fiber, program, preset.spectrum_dlam)
    fibermap = {"TARGETID": table["TARGETID"], "TARGET_RA": table["RA"], "TARGET_DEC": table["DEC"],
                "MORPHTYPE": table["MORPHTYPE"], "OBJTYPE": np.full(n, "TGT"),
                "COADD_FIBERSTATUS": np.zeros(n, np.int32),
                **{k: v for k, v in table.items() if k.startswith("FLUX_")}}
    coadd = out_dir / "desi" / "spectra" / f"coadd-main-{pop.program}-{spec.name}.fits"
    desi.write_coadd(coadd, fibermap, spectra, survey="main", program=pop.program)
    mag_r = table["MAG_SYN_DECam_r"]
    if pop.generator == "galaxy":
        vals = desi.fastspec_values(rng, truth, z, fiber, program, preset.spectrum_dlam)
        out.update({f"FSF_{k}": v for k, v in vals.items()})
        out.update(desi.cigale_values(rng, truth["LOGM"], truth["LOGSFR"], mag_r))
    elif pop.generator == "star":
        out.update({f"MWS_{k}": v for k, v in desi.mws_values(rng, truth, mag_r).items()})
    else:
        out.update(desi.bhmass_values(rng, z, truth["FWHM_MGII"], truth["LOG_L3000"]))
    return out


def desi_targetid(object_id):
    """DESI TARGETID of an object (64-bit)."""
    return TARGETID_BASE + np.asarray(object_id, dtype=np.int64)
