"""Galaxy spectra for the synthetic sky: bagpipes SPS + Cloudy nebular emission + AGN narrow lines.

Draws DESI-like galaxy samples (mass, SFR on/off the main sequence, SFH, metallicity,
ionisation, dust), runs one reused bagpipes model per process, and measures the truth
(EWs, continua) on the rest-frame model. Not for photometry or file formats.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from ..constants import AGN_BALMER_DECREMENT, CALZETTI_RV, COSMOLOGY, speagle14_log_sfr
from ..lines import EMISSION_LINES, MEASURED_LINES

__all__ = ["GALAXY_SAMPLES", "SFH_FAMILIES", "sample_galaxy_population", "GalaxySpectrumEngine", "import_bagpipes",
           "speagle14_log_sfr", "MEASURED_LINES"]

# The four lines OJALA predicts (FastSpecFit prefixes).

# DESI-like selections (DESI Collaboration 2016; Hahn et al. 2023 for BGS).
# z_range, z law, magnitude range of the target r, SF/quenched regime.
GALAXY_SAMPLES = {
    # BGS Bright: median z ≈ 0.2 (Hahn et al. 2023); this law gives 12 % at z < 0.1, from z = 0.005.
    "BGS": {"z": (0.005, 0.6), "z_law": ("gamma", 0.10), "mag_r": (14.5, 19.5), "regime": "mixed"},
    "LRG": {"z": (0.35, 1.1), "z_law": ("normal", 0.75, 0.18), "mag_r": (20.3, 22.6), "regime": "quenched"},
    "ELG": {"z": (0.6, 1.6), "z_law": ("normal", 1.05, 0.25), "mag_r": (21.5, 23.2), "regime": "starburst"},
    "FAINT": {"z": (0.02, 1.3), "z_law": ("gamma", 0.45), "mag_r": (20.5, 23.2), "regime": "mixed"},
}

# Non-stellar narrow-line emission added on top of star formation: AGN (Seyfert, LINER)
# in a mass-dependent fraction of galaxies, and the weak LINER-like emission of retired
# galaxies ionised by hot evolved stars (Cid Fernandes et al. 2011) in the other
# quenched ones. Observed log([NII]/Hα), log([OIII]/Hβ) means and spreads, EW(Hα) range [Å].
AGN_TYPES = {
    "SEYFERT": {"x": (-0.02, 0.15), "y": (0.75, 0.18), "ew_ha": (8.0, 150.0)},
    "LINER": {"x": (0.20, 0.12), "y": (0.10, 0.15), "ew_ha": (0.6, 6.0)},
    "RETIRED": {"x": (0.15, 0.10), "y": (0.0, 0.15), "ew_ha": (0.3, 2.5)},
}


# Star-formation-history families: the old delayed-τ population of every galaxy plus one young
# constant-SFR episode whose timing makes the family. Shares among star-forming galaxies of the
# mixed samples, among ELG starbursts, and among quenched galaxies.
SFH_FAMILIES = {
    # SF over the last 100 Myr at the drawn SFR (the main sequence and its scatter).
    "CONTINUOUS": {"star_forming": 0.82, "starburst": 0.70, "quenched": 0.0},
    # A 3–30 Myr old episode 0.5–1.5 dex above the sequence at low Z and high U:
    # line-dominated starbursts (EW(Hα) of hundreds of Å; green peas, HII galaxies).
    "YOUNG_BURST": {"star_forming": 0.10, "starburst": 0.20, "quenched": 0.0},
    # An episode that stopped 20–200 Myr ago with 5–30 % of the mass: blue, A/B-star dominated
    # and nearly line-free (the "line-free starbursts" of template sets).
    "FADED_BURST": {"star_forming": 0.08, "starburst": 0.10, "quenched": 0.0},
    # Residual SF at sSFR 10^-12.8–10^-11.3 /yr (today's red sequence).
    "QUENCHED": {"star_forming": 0.0, "starburst": 0.0, "quenched": 0.70},
    # No SF for ≥ 1 Gyr (sSFR < 10^-13 /yr); 30 % of them without even retired-galaxy emission.
    "PASSIVE": {"star_forming": 0.0, "starburst": 0.0, "quenched": 0.20},
    # K+A: an episode that ended 0.3–1.2 Gyr ago with 10–40 % of the mass, nothing since.
    "POST_STARBURST": {"star_forming": 0.0, "starburst": 0.0, "quenched": 0.10},
}


def _draw_families(rng, quenched, regime):
    names = np.array(list(SFH_FAMILIES))
    out = np.empty(len(quenched), dtype=object)
    for group, mask in (("quenched", quenched), ("starburst" if regime == "starburst" else "star_forming", ~quenched)):
        share = np.array([SFH_FAMILIES[k][group] for k in names])
        out[mask] = rng.choice(names, int(mask.sum()), p=share / share.sum())
    return out.astype(str)


def _young_component(rng, family, log_m, log_sfr, t_univ):
    """Window [age_min, age_max] [Gyr] and log mass of each galaxy's young constant-SFR episode."""
    n = len(family)
    age_min = np.zeros(n)
    age_max = np.full(n, 0.1)
    log_mass = log_sfr + 8.0                       # SFR × 100 Myr
    sel = family == "YOUNG_BURST"
    age_max[sel] = 10 ** rng.uniform(np.log10(0.003), np.log10(0.03), int(sel.sum()))
    log_mass[sel] = log_sfr[sel] + 9.0 + np.log10(age_max[sel])
    for name, start, length, fraction in (("FADED_BURST", (0.02, 0.2), (0.05, 0.2), (0.05, 0.3)),
                                          ("POST_STARBURST", (0.3, 1.2), (0.1, 0.3), (0.1, 0.4))):
        sel = family == name
        k = int(sel.sum())
        age_min[sel] = 10 ** rng.uniform(*np.log10(start), k)
        age_max[sel] = np.minimum(age_min[sel] + rng.uniform(*length, k), 0.9 * t_univ[sel])
        log_mass[sel] = log_m[sel] + np.log10(rng.uniform(*fraction, k))
    return {"YOUNG_AGE_MIN": age_min, "YOUNG_AGE_MAX": age_max, "LOG_YOUNG_MASS": log_mass}


def _draw_redshift(rng, n, spec):
    lo, hi = spec["z"]
    law = spec["z_law"]
    out = np.empty(n)
    filled = 0
    while filled < n:
        k = 2 * (n - filled) + 16
        if law[0] == "gamma":  # n(z) ∝ z² exp(−(z/z0)^1.5)
            z = law[1] * rng.gamma(2.0, 1.0, k) ** (1 / 1.5) * 1.4
        else:
            z = rng.normal(law[1], law[2], k)
        z = z[(z > lo) & (z < hi)][: n - filled]
        out[filled:filled + len(z)] = z
        filled += len(z)
    return out


def _draw_magnitude(rng, n, lo, hi, slope=0.45):
    """Magnitudes with counts ∝ 10^(slope m) between lo and hi (inverse CDF)."""
    a = 10 ** (slope * lo)
    b = 10 ** (slope * hi)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def sample_galaxy_population(rng, n, sample="BGS", z=None):
    """Draw galaxy parameters for a DESI-like sample.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    sample : {'BGS', 'LRG', 'ELG', 'FAINT'}
    z : ndarray, optional
        Fixed redshifts (e.g. QSO hosts) instead of the sample's n(z).

    Returns
    -------
    dict of ndarray
        'Z', 'LOGM_TARGET' [dex Msun], 'LOGSFR_TARGET' [dex Msun/yr], 'QUENCHED' (bool),
        'SFH_FAMILY' (a key of `SFH_FAMILIES`), 'AGE_OLD', 'TAU' [Gyr] of the old delayed-τ
        component, 'YOUNG_AGE_MIN', 'YOUNG_AGE_MAX' [Gyr] and 'LOG_YOUNG_MASS' [dex Msun] of the
        young constant-SFR component, 'METALLICITY' [Z/Zsun], 'LOGU', 'AV' [mag],
        'AGN_TYPE' ('', 'SEYFERT', 'LINER', 'RETIRED'), 'AGN_X', 'AGN_Y', 'AGN_EW_HA' [Å],
        'R_EFF_KPC' [kpc], 'MAG_R_TARGET' [AB].
    """
    spec = GALAXY_SAMPLES[sample]
    z = _draw_redshift(rng, n, spec) if z is None else np.asarray(z, dtype=float)
    mag_r = _draw_magnitude(rng, n, *spec["mag_r"])
    # Mass from the target magnitude through a mass-to-light ratio: keeps the
    # magnitude distribution of the selection without rejection sampling.
    dist_mod = COSMOLOGY.distmod(z).value
    abs_r = mag_r - dist_mod + 2.5 * np.log10(1 + z)
    log_lr = -0.4 * (abs_r - 4.65)
    # Fading and k-correction of the r band with z, calibrated on the bagpipes models
    # themselves (actual − target r measured over 600 galaxies per sample).
    log_m_sf = log_lr + 0.61 * z - 0.24 + rng.normal(0.0, 0.12, n)
    if spec["regime"] == "quenched":
        quenched = rng.random(n) < 0.92
    elif spec["regime"] == "starburst":
        quenched = np.zeros(n, bool)
    else:
        f_q = 1.0 / (1.0 + np.exp(-(log_m_sf - 10.5 - 0.4 * z) / 0.25))
        quenched = rng.random(n) < f_q
    # Old populations: higher M/L and a larger k-correction in r.
    log_m = np.clip(log_m_sf + np.where(quenched, 0.59 + 0.93 * z, 0.0), 7.5, 12.2)

    ms = speagle14_log_sfr(log_m, z)
    offset = rng.normal(0.3 if spec["regime"] == "starburst" else 0.0, 0.3, n)
    # Quenched galaxies: an absolute specific SFR well below the sequence at any z.
    log_sfr = np.where(quenched, log_m + rng.uniform(-12.8, -11.3, n), ms + offset)
    family = _draw_families(rng, quenched, spec["regime"])
    young_burst = family == "YOUNG_BURST"
    log_sfr = np.where(young_burst, ms + rng.uniform(0.5, 1.5, n), log_sfr)
    log_sfr = np.where(family == "PASSIVE", log_m + rng.uniform(-14.5, -13.0, n), log_sfr)

    t_univ = COSMOLOGY.age(z).value
    age_old = t_univ * rng.uniform(0.55, 0.92, n)
    # Short τ (nothing forming now) for quenched galaxies and for faded bursts, whose lines vanish
    # only if the old population has stopped forming stars too.
    old_stopped = quenched | (family == "FADED_BURST")
    tau = np.where(old_stopped, rng.uniform(0.1, 0.5, n), rng.uniform(1.0, 8.0, n))
    young = _young_component(rng, family, log_m, log_sfr, t_univ)
    log_z = np.clip(0.25 * (log_m - 10.5) + rng.normal(0.0, 0.2, n) - np.where(young_burst, 0.3, 0.0), -1.3, 0.4)
    ssfr = log_sfr - log_m
    log_u = np.clip(-3.0 + 0.35 * (ssfr + 9.8) + rng.normal(0.0, 0.3, n), -3.9, -2.1)
    log_u = np.where(young_burst, rng.uniform(-2.6, -1.5, n), log_u)
    av = np.where(quenched, rng.uniform(0.0, 0.5, n),
                  np.clip(0.35 + 0.4 * log_sfr + rng.normal(0.0, 0.35, n), 0.02, 3.0))

    p_agn = 0.30 / (1.0 + np.exp(-(log_m - 10.4) / 0.3))
    has_agn = rng.random(n) < p_agn
    liner = rng.random(n) < np.where(quenched, 0.85, 0.35)
    # Hot evolved stars ionise most, not all, passive galaxies (Cid Fernandes et al. 2011).
    retired = quenched & ((family != "PASSIVE") | (rng.random(n) < 0.7))
    agn_type = np.where(has_agn, np.where(liner, "LINER", "SEYFERT"), np.where(retired, "RETIRED", ""))
    agn_x = np.full(n, np.nan)
    agn_y = np.full(n, np.nan)
    agn_ew = np.zeros(n)
    for name, p in AGN_TYPES.items():
        sel = agn_type == name
        k = int(sel.sum())
        agn_x[sel] = rng.normal(*p["x"], k)
        agn_y[sel] = rng.normal(*p["y"], k)
        agn_ew[sel] = np.exp(rng.uniform(np.log(p["ew_ha"][0]), np.log(p["ew_ha"][1]), k))

    log_re = np.where(quenched, 0.56 * (log_m - 11.0) + 0.65, 0.22 * (log_m - 10.0) + 0.6)
    r_eff = 10 ** (log_re - 0.3 * np.log10(1 + z) + rng.normal(0.0, 0.15, n))
    return {
        "Z": z, "LOGM_TARGET": log_m, "LOGSFR_TARGET": log_sfr, "QUENCHED": quenched,
        "SFH_FAMILY": family, "AGE_OLD": age_old, "TAU": tau, **young, "METALLICITY": 10 ** log_z,
        "LOGU": log_u, "AV": av,
        "AGN_TYPE": agn_type, "AGN_X": agn_x, "AGN_Y": agn_y, "AGN_EW_HA": agn_ew,
        "R_EFF_KPC": r_eff, "MAG_R_TARGET": mag_r,
    }


def import_bagpipes():
    """Import bagpipes quietly (it prints to stdout and, on its very first import, writes an
    IGM table into its package folder: do this once before forking workers)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import bagpipes
    return bagpipes


def _components(p, i):
    # The young constant-SFR episode of the galaxy's family; the older delayed-τ component carries
    # the rest of the mass.
    young = p["LOG_YOUNG_MASS"][i]
    old = np.log10(max(10 ** (p["LOGM_TARGET"][i] + 0.22) - 10 ** young, 1e6))
    met = float(p["METALLICITY"][i])
    return {
        "redshift": float(p["Z"][i]),
        "delayed": {"age": float(p["AGE_OLD"][i]), "tau": float(p["TAU"][i]),
                    "massformed": float(old), "metallicity": met},
        "constant": {"age_max": float(p["YOUNG_AGE_MAX"][i]), "age_min": float(p["YOUNG_AGE_MIN"][i]),
                     "massformed": float(young), "metallicity": met},
        "dust": {"type": "Calzetti", "Av": float(p["AV"][i]), "eta": 2.0},
        "nebular": {"logU": float(p["LOGU"][i])},
    }


@dataclass
class GalaxySpectra:
    """Output of `GalaxySpectrumEngine.run` (observed-frame f_λ on rest wavelengths)."""

    wavelength_rest: np.ndarray      # (n_wave,) [Å]
    spectrum: np.ndarray             # (n, n_wave) [erg s^-1 cm^-2 Å^-1]
    truth: dict                      # per-object arrays


class GalaxySpectrumEngine:
    """One bagpipes model reused for many galaxies (building one costs ~1 s).

    The model is built once with a spectral grid (R = 1000 sampling from 273 Å to
    1 µm rest, R = 20 beyond, enough for the broad WISE bands) and then ``spec_wavs``
    is dropped, which skips bagpipes' slow resampling; ``spectrum_full`` on
    ``wavelengths`` is all we need (3.8 ms per galaxy here).
    """

    def __init__(self):
        bagpipes = import_bagpipes()
        comps = _components(sample_galaxy_population(np.random.default_rng(0), 1), 0)
        self._model = bagpipes.model_galaxy(comps, spec_wavs=np.arange(3000.0, 10000.0, 10.0))
        self._model.spec_wavs = None
        self.wavelength_rest = self._model.wavelengths[self._model.wavelengths < 1.0e5]

    def run(self, params):
        """Spectra and truth for galaxies drawn by `sample_galaxy_population`."""
        n = len(params["Z"])
        lam = self.wavelength_rest
        nw = len(lam)
        spectra = np.empty((n, nw))
        line_flux = {k: np.zeros(n) for k in MEASURED_LINES}
        log_mass = np.empty(n)
        log_sfr = np.empty(n)
        for i in range(n):
            self._model.update(_components(params, i))
            spectra[i] = self._model.spectrum_full[:nw]
            for k in MEASURED_LINES:
                line_flux[k][i] = self._model.line_fluxes[EMISSION_LINES[k].cloudy]
            log_mass[i] = self._model.sfh.stellar_mass
            log_sfr[i] = np.log10(max(self._model.sfh.sfr, 1e-5))
        z = params["Z"]
        continuum = {k: _sideband_continuum(lam, spectra, EMISSION_LINES[k].wavelength)
                     for k in MEASURED_LINES}
        star_forming_ha = line_flux["HALPHA"].copy()
        self._add_agn_lines(params, spectra, line_flux, continuum)
        truth = {"LOGM": log_mass, "LOGSFR": log_sfr,
                 "AGN_HA_FRACTION": 1.0 - star_forming_ha / line_flux["HALPHA"]}
        for k in MEASURED_LINES:
            truth[f"{k}_FLUX"] = line_flux[k]
            truth[f"{k}_CONT_FLAMBDA"] = continuum[k]
            # Rest EW = observed line flux / observed continuum / (1+z).
            truth[f"{k}_EW"] = line_flux[k] / continuum[k] / (1 + z)
        return GalaxySpectra(lam, spectra, truth)

    def _add_agn_lines(self, p, spectra, line_flux, continuum):
        """Add NLR emission (Hα, Hβ, [OIII], [NII] doublets) to galaxies with an AGN."""
        lam = self.wavelength_rest
        ebv = p["AV"] / CALZETTI_RV
        for i in np.flatnonzero(p["AGN_TYPE"] != ""):
            f_ha = p["AGN_EW_HA"][i] * continuum["HALPHA"][i] * (1 + p["Z"][i])
            # Observed Balmer decrement of a reddened NLR.
            dk = EMISSION_LINES["HBETA"].calzetti_k - EMISSION_LINES["HALPHA"].calzetti_k
            f_hb = f_ha / AGN_BALMER_DECREMENT / 10 ** (0.4 * ebv[i] * dk)
            f_nii = f_ha * 10 ** p["AGN_X"][i]
            f_oiii = f_hb * 10 ** p["AGN_Y"][i]
            added = {"HALPHA": f_ha, "HBETA": f_hb, "NII_6584": f_nii, "OIII_5007": f_oiii,
                     "NII_6548": f_nii / 3.0, "OIII_4959": f_oiii / 3.0}
            for name, flux in added.items():
                if name in line_flux:
                    line_flux[name][i] += flux
                centre = EMISSION_LINES[name].wavelength
                sigma = centre * 250.0 / 2.998e5  # σ_v = 250 km/s
                profile = np.exp(-0.5 * ((lam - centre) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
                spectra[i] += flux / (1 + p["Z"][i]) * profile


def _sideband_continuum(lam, spectra, centre, inner=30.0, outer=100.0):
    """Median S in [centre−outer, centre−inner] ∪ [centre+inner, centre+outer] (rest Å).

    The median ignores the single-pixel nebular lines of the model grid.
    """
    d = np.abs(lam - centre)
    window = (d > inner) & (d < outer)
    return np.median(spectra[:, window], axis=1)
