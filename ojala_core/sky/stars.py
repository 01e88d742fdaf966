"""Parametric stellar spectra and Milky Way star populations for the synthetic sky.

For mock photometry and plausible-looking spectra of stars; not a stellar atmosphere model.

This is an APPROXIMATION, written because no atmosphere grid (PHOENIX, MARCS, Kurucz)
is installable here. Real DESI spectra should be used for any stellar science. A
spectrum is a Planck continuum at Teff times exp(-τ), where τ is the sum of the rows of
`ABSORPTION_FEATURES`: UV/blue line blanketing, the Balmer jump and the blend of high
Balmer lines, Balmer lines Hα…H12, Ca II H&K, the CH G band, Mg b, Na D, the Ca II
triplet, TiO bands and CaH bands. Depths and widths are smooth functions of
(Teff, log g, [Fe/H], [α/Fe]) chosen to reproduce the usual spectral-class trends, not
fitted line strengths. Line centres are vacuum wavelengths (NIST ASD, as DESI spectra
are in vacuum); molecular band heads are approximate to a few Å, below the accuracy
of this model. Beyond the Ca II triplet (~9,000 Å) the spectrum is the bare Planck
continuum: no Paschen lines, H⁻ opacity minimum or molecular bands in the near-IR.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

__all__ = [
    "AbsorptionFeature", "ABSORPTION_FEATURES", "DEPTH_LAWS", "WIDTH_LAWS", "PROFILES",
    "STELLAR_POPULATIONS", "ALPHAFE_RELATION", "EVOLUTIONARY_STAGES",
    "MAIN_SEQUENCE_TEFF_BINS", "stellar_spectrum", "sample_stellar_population",
]

SECOND_RADIATION_CONSTANT = 1.438776877e8  # hc/k [Å K], CODATA 2018
NORMALISATION_WAVELENGTH = 5500.0          # [Å]; the Planck continuum is 1 here
TEFF_RANGE = (3500.0, 10000.0)             # [K], where the depth laws were tuned
FEH_RANGE = (-2.5, 0.5)                    # [dex]
TAU_MAX = 300.0  # keeps exp(-τ) × Planck a positive normal float64 even at 1,000 Å


# --- Depth laws: (teff [K], logg [dex], feh [dex], alphafe [dex]) -> factor per star ----

def _cool(teff):
    """Rises monotonically toward cool stars: ≈0 for A stars, ≈1 at 5,800 K, >1 for M."""
    return expit((7000.0 - teff) / 800.0) * (5800.0 / teff) / expit(1.5)


def _molecular(teff):
    """Zero above 4,200 K, 1 at 3,500 K: TiO and CaH appear in late K / M stars."""
    return np.clip((4200.0 - teff) / 700.0, 0.0, None) ** 2


def _hydrogen(teff, logg, feh, alphafe):
    # n=2 level population × ionised fraction peaks at A0–A2; Gaussian in log Teff.
    return np.exp(-0.5 * (np.log10(teff / 9000.0) / 0.12) ** 2)


def _balmer_jump(teff, logg, feh, alphafe):
    # Lower electron pressure (giants) means less H⁻ opacity and a larger jump: the
    # Strömgren c1 index is a gravity indicator for A–F stars.
    return _hydrogen(teff, logg, feh, alphafe) * 10.0 ** (-0.1 * (logg - 4.0))


def _line_blanketing(teff, logg, feh, alphafe):
    return 10.0 ** (0.6 * feh) * (5800.0 / teff) ** 3


def _metal(teff, logg, feh, alphafe):
    return 10.0 ** (0.5 * feh) * _cool(teff)


def _alpha_metal(teff, logg, feh, alphafe):
    # Mg and Ca are α elements: their abundance is [Fe/H] + [α/Fe].
    return 10.0 ** (0.5 * (feh + alphafe)) * _cool(teff)


def _calcium_triplet(teff, logg, feh, alphafe):
    # The Ca II triplet strengthens at low gravity: a luminosity indicator
    # (Jones, Alloin & Jones 1984).
    return _alpha_metal(teff, logg, feh, alphafe) * 10.0 ** (0.12 * (4.0 - logg))


def _titanium_oxide(teff, logg, feh, alphafe):
    return _molecular(teff) * 10.0 ** (0.5 * (feh + alphafe))


def _calcium_hydride(teff, logg, feh, alphafe):
    # CaH is a dwarf feature and depends less on metallicity than TiO, which is why
    # CaH/TiO separates M subdwarfs from dwarfs (Reid, Hawley & Gizis 1995, AJ 110, 1838).
    dwarfness = np.clip((logg - 3.0) / 1.5, 0.0, 1.0)
    return _molecular(teff) * dwarfness * 10.0 ** (0.2 * (feh + alphafe))


DEPTH_LAWS = {
    "hydrogen": _hydrogen,
    "balmer_jump": _balmer_jump,
    "line_blanketing": _line_blanketing,
    "metal": _metal,
    "alpha_metal": _alpha_metal,
    "calcium_triplet": _calcium_triplet,
    "titanium_oxide": _titanium_oxide,
    "calcium_hydride": _calcium_hydride,
}
"""Depth law name -> f(teff, logg, feh, alphafe), multiplying a feature's τ0."""

WIDTH_LAWS = {
    "fixed": lambda logg: np.ones_like(logg),
    # Linear Stark broadening ∝ N_e^(2/3): dwarfs have broader Balmer wings, which is how
    # BHB stars (log g ≈ 3) are told from A dwarfs (e.g. Xue+ 2008). 0.25 is our choice.
    "stark": lambda logg: 10.0 ** (0.25 * (logg - 4.0)),
    # van der Waals damping wings of strong metal lines grow mildly with gravity.
    "collisional": lambda logg: 10.0 ** (0.1 * (logg - 4.0)),
}
"""Width law name -> f(logg), multiplying a feature's width."""


# --- Profiles: shape φ(λ) with φ = 1 at the line centre or band head ------------------

def _gauss(wavelength, centre, width):
    return np.exp(-0.5 * ((wavelength - centre) / width) ** 2)


def _lorentz(wavelength, centre, width):
    return 1.0 / (1.0 + ((wavelength - centre) / width) ** 2)


def _band(wavelength, centre, width):
    # Sharp head, absorption shaded (degraded) to the red over `width` Å.
    offset = wavelength - centre
    return expit(offset / 1.5) * np.exp(-np.clip(offset, 0.0, None) / width)


def _bound_free_edge(wavelength, centre, width):
    # Blueward: Balmer-continuum opacity ∝ λ³ (hydrogenic cross-section). Redward: the
    # unresolved high Balmer lines merge into a pseudo-continuum over `width` Å, which
    # is wider in dwarfs (Inglis–Teller: fewer resolved lines at high pressure).
    blue = expit((centre - wavelength) / 4.0)
    redward = np.exp(-np.clip(wavelength - centre, 0.0, None) / width)
    return blue * (wavelength / centre) ** 3 + 0.6 * (1.0 - blue) * redward


def _blue_power(wavelength, centre, width):
    # Crowding of metal lines grows steeply toward the UV; zero redward of `centre`.
    return np.clip((centre / wavelength) ** 3 - 1.0, 0.0, None)


PROFILES = {
    "gauss": (_gauss, 5.0, 5.0),
    "lorentz": (_lorentz, 100.0, 100.0),  # τ < 1e-4 τ0 beyond 100 widths
    "band": (_band, 0.2, 8.0),
    "bound_free_edge": (_bound_free_edge, np.inf, 10.0),
    "blue_power": (_blue_power, np.inf, 0.0),
}
"""Profile name -> (φ(wavelength, centre, width), reach blueward, reach redward) in widths."""


class AbsorptionFeature(NamedTuple):
    """A row of the feature table: τ(λ) = tau0 × depth_law × φ(λ; centre, width × width_law)."""

    name: str
    centre: float      # line centre or band head [Å, vacuum]
    profile: str       # key of PROFILES
    tau0: float        # central optical depth where the depth law is 1
    width: float       # σ, Lorentz γ, band extent or blend length [Å] at width law 1
    depth_law: str     # key of DEPTH_LAWS
    width_law: str     # key of WIDTH_LAWS


ABSORPTION_FEATURES = tuple(AbsorptionFeature(*row) for row in (
    # name, centre [Å], profile, tau0, width [Å], depth law, width law
    ("LINE_BLANKETING", 5000.00, "blue_power", 0.15, 1.0, "line_blanketing", "fixed"),
    ("BALMER_JUMP", 3647.05, "bound_free_edge", 1.0, 25.0, "balmer_jump", "stark"),
    ("H_ALPHA", 6564.61, "lorentz", 1.0, 4.0, "hydrogen", "stark"),
    ("H_BETA", 4862.68, "lorentz", 1.2, 4.5, "hydrogen", "stark"),
    ("H_GAMMA", 4341.68, "lorentz", 1.2, 4.5, "hydrogen", "stark"),
    ("H_DELTA", 4102.89, "lorentz", 1.2, 4.5, "hydrogen", "stark"),
    ("H_EPSILON", 3971.20, "lorentz", 1.1, 4.0, "hydrogen", "stark"),
    ("H8", 3890.17, "lorentz", 1.0, 3.5, "hydrogen", "stark"),
    ("H9", 3836.47, "lorentz", 0.9, 3.0, "hydrogen", "stark"),
    ("H10", 3798.98, "lorentz", 0.8, 2.5, "hydrogen", "stark"),
    ("H11", 3771.70, "lorentz", 0.7, 2.0, "hydrogen", "stark"),
    ("H12", 3751.22, "lorentz", 0.6, 1.7, "hydrogen", "stark"),
    ("CAII_K", 3934.78, "lorentz", 6.0, 2.0, "alpha_metal", "collisional"),
    ("CAII_H", 3969.59, "lorentz", 4.0, 2.0, "alpha_metal", "collisional"),
    ("G_BAND", 4305.00, "gauss", 0.4, 6.0, "metal", "fixed"),
    ("MG_B4", 5168.76, "lorentz", 0.5, 0.7, "alpha_metal", "collisional"),
    ("MG_B2", 5174.13, "lorentz", 0.8, 0.7, "alpha_metal", "collisional"),
    ("MG_B1", 5185.05, "lorentz", 1.1, 0.7, "alpha_metal", "collisional"),
    ("NA_D2", 5891.58, "lorentz", 2.0, 0.6, "metal", "collisional"),
    ("NA_D1", 5897.56, "lorentz", 1.5, 0.6, "metal", "collisional"),
    ("CAII_8498", 8500.36, "lorentz", 0.8, 1.0, "calcium_triplet", "fixed"),
    ("CAII_8542", 8544.44, "lorentz", 1.4, 1.0, "calcium_triplet", "fixed"),
    ("CAII_8662", 8664.52, "lorentz", 1.2, 1.0, "calcium_triplet", "fixed"),
    ("TIO_4761", 4761.0, "band", 0.3, 50.0, "titanium_oxide", "fixed"),
    ("TIO_4954", 4954.0, "band", 0.5, 70.0, "titanium_oxide", "fixed"),
    ("TIO_5167", 5167.0, "band", 0.5, 70.0, "titanium_oxide", "fixed"),
    ("TIO_5448", 5448.0, "band", 0.5, 90.0, "titanium_oxide", "fixed"),
    ("TIO_5847", 5847.0, "band", 0.5, 100.0, "titanium_oxide", "fixed"),
    ("TIO_6159", 6159.0, "band", 0.8, 110.0, "titanium_oxide", "fixed"),
    ("TIO_6651", 6651.0, "band", 0.6, 100.0, "titanium_oxide", "fixed"),
    ("TIO_7054", 7054.0, "band", 1.0, 130.0, "titanium_oxide", "fixed"),
    ("TIO_7589", 7589.0, "band", 0.7, 100.0, "titanium_oxide", "fixed"),
    ("TIO_8432", 8432.0, "band", 0.5, 120.0, "titanium_oxide", "fixed"),
    ("CAH_6382", 6382.0, "band", 0.5, 50.0, "calcium_hydride", "fixed"),
    ("CAH_6750", 6750.0, "band", 0.6, 120.0, "calcium_hydride", "fixed"),
))
"""The feature table: every absorption the spectrum has, one row each."""


def _log_planck_flambda(wavelength, teff):
    """ln B_λ(T) up to a constant; wavelength [Å], teff [K], broadcasting."""
    x = SECOND_RADIATION_CONSTANT / (wavelength * teff)
    # ln(e^x − 1) written so that neither large x (UV) nor small x (IR) loses precision.
    return -5.0 * np.log(wavelength) - (x + np.log1p(-np.exp(-x)))


def stellar_spectrum(wavelength, teff, logg, feh, alphafe):
    """Approximate stellar f_λ shape: Planck continuum times absorption exp(-τ).

    Parameters
    ----------
    wavelength : array_like, shape (n_wave,)
        Wavelengths [Å, vacuum], rest = observed frame (stars have z ≈ 0); any range
        within 1,000–60,000 Å, in any order.
    teff : array_like, shape (n_star,)
        Effective temperature [K]; the depth laws are tuned for 3,500–10,000 K.
    logg : array_like, shape (n_star,)
        Surface gravity log10(g / cm s⁻²) [dex].
    feh : array_like, shape (n_star,)
        Iron abundance [Fe/H] [dex].
    alphafe : array_like, shape (n_star,)
        α-element enhancement [α/Fe] [dex].

    Returns
    -------
    flux : ndarray, shape (n_star, n_wave), float64
        f_λ in arbitrary units, positive and finite, normalised so that each star's
        Planck continuum is 1 at 5,500 Å (independent of the wavelength grid, so
        spectra computed on different grids agree).
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    teff, logg, feh, alphafe = (np.atleast_1d(np.asarray(p, dtype=np.float64))
                                for p in (teff, logg, feh, alphafe))
    log_continuum = (_log_planck_flambda(wavelength[None, :], teff[:, None])
                     - _log_planck_flambda(NORMALISATION_WAVELENGTH, teff[:, None]))
    tau = np.zeros((teff.size, wavelength.size))
    for feature in ABSORPTION_FEATURES:  # a loop over table rows; stars are vectorised
        profile, reach_blue, reach_red = PROFILES[feature.profile]
        depth = feature.tau0 * DEPTH_LAWS[feature.depth_law](teff, logg, feh, alphafe)
        width = feature.width * WIDTH_LAWS[feature.width_law](logg)
        widest = width.max()
        # Only pixels within the feature's reach: cheap for narrow lines on long grids.
        near = ((wavelength > feature.centre - reach_blue * widest)
                & (wavelength < feature.centre + reach_red * widest))
        if near.any() and depth.any():
            tau[:, near] += depth[:, None] * profile(
                wavelength[near][None, :], feature.centre, width[:, None])
    return np.exp(log_continuum - np.minimum(tau, TAU_MAX))


# --- Populations ----------------------------------------------------------------------

# Fractions: rough sky averages for r = 15–19.5 at high Galactic latitude (cf. the
# star-count model of Jurić+ 2008, ApJ 673, 864). [Fe/H] distributions: the DESIGN's
# values; the halo one is close to Ivezić+ 2008 (ApJ 684, 287).
STELLAR_POPULATIONS = {
    "thin_disk": {"fraction": 0.65, "feh_mean": -0.1, "feh_sd": 0.2, "alphafe_offset": -0.03},
    "thick_disk": {"fraction": 0.25, "feh_mean": -0.6, "feh_sd": 0.3, "alphafe_offset": 0.05},
    "halo": {"fraction": 0.10, "feh_mean": -1.5, "feh_sd": 0.5, "alphafe_offset": 0.0},
}
"""Population name -> fraction, [Fe/H] mean and sd [dex], [α/Fe] offset [dex] from
`ALPHAFE_RELATION` (the thin disk sits on the low-α sequence, the thick disk on the
high-α one; Bensby, Feltzing & Oey 2014, A&A 562, A71)."""

ALPHAFE_RELATION = {"plateau": 0.3, "knee_feh": -1.0, "scatter": 0.03}
"""[α/Fe] [dex] = plateau below [Fe/H] = knee_feh, declining linearly to 0 at solar and
flat above it, plus the population offset and Gaussian scatter."""

EVOLUTIONARY_STAGES = {"main_sequence": 0.71, "giant_branch": 0.25, "horizontal_branch": 0.04}
"""Stage name -> fraction of stars (all populations alike)."""

MAIN_SEQUENCE_TEFF_BINS = (
    # (spectral class, Teff low [K], Teff high [K], weight)
    ("M", 3500.0, 3900.0, 0.15),
    ("K", 3900.0, 5300.0, 0.34),
    ("G", 5300.0, 6000.0, 0.30),
    ("F", 6000.0, 7300.0, 0.15),
    ("A", 7300.0, 10000.0, 0.06),
)
"""Dwarf Teff distribution, uniform within each class, weighted toward G/K."""

R_MAGNITUDE_RANGE = (15.0, 19.5)  # [AB mag]
R_COUNT_SLOPE = 0.2  # d log10 N / d r [mag⁻¹]: star counts rise ~8× over the range


def _alphafe_of_feh(feh):
    """Shared [α/Fe]([Fe/H]) [dex], before population offset and scatter."""
    plateau, knee = ALPHAFE_RELATION["plateau"], ALPHAFE_RELATION["knee_feh"]
    return plateau * np.clip(feh / knee, 0.0, 1.0)


def _main_sequence_logg(teff):
    """log g [dex] of dwarfs: ≈4.1 for A stars, 4.3 at 6,000 K, ≈4.85 for M dwarfs."""
    return 4.3 + 0.55 * np.clip((6000.0 - teff) / 2500.0, -0.6, 1.0)


def _giant_branch_teff(logg, feh):
    """Teff [K] on the red giant branch: cooler at low log g, hotter when metal-poor."""
    return 3800.0 + 400.0 * (logg - 0.5) - 250.0 * feh


def sample_stellar_population(rng, n):
    """Draw stars from the thin disk, thick disk and halo of `STELLAR_POPULATIONS`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same stars.
    n : int
        Number of stars.

    Returns
    -------
    stars : dict of ndarray, each shape (n,)
        'TEFF' [K] in [3,500, 10,000]; 'LOGG' [dex]; 'FEH' [dex] in [-2.5, 0.5];
        'ALPHAFE' [dex]; 'POPULATION' (str, a key of `STELLAR_POPULATIONS`);
        'MAG_R' (target AB r magnitude in [15, 19.5], counts rising to faint).
    """
    names = np.array(list(STELLAR_POPULATIONS))
    params = [STELLAR_POPULATIONS[name] for name in names]
    population = rng.choice(len(names), size=n, p=[p["fraction"] for p in params])

    def pick(key):
        """Each star's value of a population parameter."""
        return np.array([p[key] for p in params])[population]

    feh = np.clip(rng.normal(pick("feh_mean"), pick("feh_sd")), *FEH_RANGE)
    alphafe = (_alphafe_of_feh(feh) + pick("alphafe_offset")
               + rng.normal(0.0, ALPHAFE_RELATION["scatter"], n))

    stage = rng.choice(list(EVOLUTIONARY_STAGES), size=n,
                       p=list(EVOLUTIONARY_STAGES.values()))

    # Every stage is drawn for every star and then selected, so draws stay vectorised
    # and the random stream (hence reproducibility) does not depend on the stage mix.
    _, teff_low, teff_high, weight = (np.array(c) for c in zip(*MAIN_SEQUENCE_TEFF_BINS))
    spectral_class = rng.choice(len(weight), size=n, p=weight / weight.sum())
    dwarf_teff = rng.uniform(teff_low[spectral_class], teff_high[spectral_class])
    dwarf_logg = _main_sequence_logg(dwarf_teff) + rng.normal(0.0, 0.08, n)

    # More giants at high log g (lower luminosity) than at the tip: density ∝ 1/√(3.5−g).
    giant_logg = 3.5 - 3.0 * rng.uniform(0.0, 1.0, n) ** 2
    giant_teff = _giant_branch_teff(giant_logg, feh) + rng.normal(0.0, 100.0, n)

    hb_teff = rng.uniform(7000.0, 10000.0, n)
    hb_logg = rng.uniform(2.8, 3.6, n)

    is_dwarf, is_giant = stage == "main_sequence", stage == "giant_branch"
    teff = np.select([is_dwarf, is_giant],
                     [dwarf_teff, np.clip(giant_teff, 3800.0, 5500.0)], hb_teff)
    logg = np.select([is_dwarf, is_giant],
                     [np.clip(dwarf_logg, 4.0, 5.0), giant_logg], hb_logg)

    # Inverse CDF of dN/dr ∝ 10^(slope r) on the magnitude range.
    r_bright, r_faint = R_MAGNITUDE_RANGE
    growth = 10.0 ** (R_COUNT_SLOPE * (r_faint - r_bright)) - 1.0
    mag_r = r_bright + np.log10(1.0 + growth * rng.uniform(0.0, 1.0, n)) / R_COUNT_SLOPE

    return {
        "TEFF": np.clip(teff, *TEFF_RANGE),
        "LOGG": logg,
        "FEH": feh,
        "ALPHAFE": alphafe,
        "POPULATION": names[population],
        "MAG_R": mag_r,
    }
