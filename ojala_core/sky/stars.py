"""Milky Way star populations for the synthetic sky, and their spectra from model-atmosphere
grids (`stellar_library`: PHOENIX-ACES, BT-Settl, Koester DA white dwarfs).

Populations: thin disk, thick disk and halo, each with main-sequence stars from late M
dwarfs (2,800 K) to B stars (≥ 30,000 K), red giants, horizontal-branch stars (blue ones in the
metal-poor halo) and DA white dwarfs. Not a Galaxy model: fractions and magnitude counts are
rough high-latitude averages, enough for a J-PAS × DESI field's mix.
"""
from __future__ import annotations

import numpy as np

from .stellar_library import library_spectrum

__all__ = [
    "STELLAR_POPULATIONS", "ALPHAFE_RELATION", "EVOLUTIONARY_STAGES",
    "MAIN_SEQUENCE_TEFF_BINS", "stellar_spectrum", "sample_stellar_population",
]

TEFF_RANGE = (2800.0, 40000.0)             # [K]
FEH_RANGE = (-2.5, 0.5)                    # [dex]


def stellar_spectrum(wavelength, teff, logg, feh, alphafe):
    """Stellar f_λ (n_star, n_wave) [arbitrary units, 1 at 5,500 Å] from the atmosphere grids.

    wavelength [Å, vacuum] (stars have z ≈ 0), any order within 1,000 Å–9.5 µm; teff [K],
    logg [dex], feh [dex] and alphafe [dex] of each star (log g ≥ 6.5: a DA white dwarf, whose
    [Fe/H] and [α/Fe] are ignored). See `stellar_library` for the grids and the interpolation.
    """
    return library_spectrum(wavelength, teff, logg, feh, alphafe)


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

EVOLUTIONARY_STAGES = {"main_sequence": 0.69, "giant_branch": 0.24, "horizontal_branch": 0.04,
                       "white_dwarf": 0.03}
"""Stage name -> fraction of stars (all populations alike). Horizontal-branch stars are blue
(BHB, 7,500–14,000 K) in the halo and red-clump giants in the disks."""

MAIN_SEQUENCE_TEFF_BINS = (
    # (spectral class, Teff low [K], Teff high [K], weight)
    ("M", 2800.0, 3900.0, 0.22),
    ("K", 3900.0, 5300.0, 0.32),
    ("G", 5300.0, 6000.0, 0.26),
    ("F", 6000.0, 7300.0, 0.13),
    ("A", 7300.0, 10000.0, 0.04),
    ("B", 10000.0, 32000.0, 0.03),
)
"""Dwarf Teff distribution, uniform within each class: G/K dwarfs and M dwarfs (the faint
disk's majority) dominate; B stars are rare at high latitude but must be in the sky."""

WHITE_DWARF_TEFF = (5000.0, 40000.0)   # [K], log-uniform (cool white dwarfs are more numerous)
WHITE_DWARF_LOGG = (8.0, 0.2)          # [dex], mean and sd, clipped to the DA grid's 7–9

R_MAGNITUDE_RANGE = (15.0, 19.5)  # [AB mag]
R_COUNT_SLOPE = 0.2  # d log10 N / d r [mag⁻¹]: star counts rise ~8× over the range


def _alphafe_of_feh(feh):
    """Shared [α/Fe]([Fe/H]) [dex], before population offset and scatter."""
    plateau, knee = ALPHAFE_RELATION["plateau"], ALPHAFE_RELATION["knee_feh"]
    return plateau * np.clip(feh / knee, 0.0, 1.0)


def _main_sequence_logg(teff):
    """log g [dex] of dwarfs: ≈4.0 for A and B stars, 4.3 at 6,000 K, 5.0 for late M dwarfs."""
    return 4.3 + 0.55 * np.clip((6000.0 - teff) / 2500.0, -0.6, 1.28)


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
        'TEFF' [K] in [2,800, 40,000]; 'LOGG' [dex] (≥ 7 for white dwarfs); 'FEH' [dex] in
        [-2.5, 0.5] and 'ALPHAFE' [dex] (NaN for white dwarfs); 'STAGE' (a key of
        `EVOLUTIONARY_STAGES`); 'POPULATION' (str, a key of `STELLAR_POPULATIONS`);
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

    # Horizontal branch: blue (hotter ones more compact) in the halo, the red clump in the disks.
    blue_hb = names[population] == "halo"
    hb_teff = np.where(blue_hb, rng.uniform(7500.0, 14000.0, n), rng.uniform(4600.0, 5200.0, n))
    hb_logg = np.where(blue_hb, 3.0 + (hb_teff - 7500.0) / 6500.0 + rng.normal(0.0, 0.1, n),
                       rng.uniform(2.3, 2.8, n))

    wd_teff = np.exp(rng.uniform(*np.log(WHITE_DWARF_TEFF), n))
    wd_logg = np.clip(rng.normal(*WHITE_DWARF_LOGG, n), 7.0, 9.0)

    is_dwarf, is_giant, is_wd = (stage == s for s in ("main_sequence", "giant_branch", "white_dwarf"))
    teff = np.select([is_dwarf, is_giant, is_wd],
                     [dwarf_teff, np.clip(giant_teff, 3300.0, 5500.0), wd_teff], hb_teff)
    logg = np.select([is_dwarf, is_giant, is_wd],
                     [np.clip(dwarf_logg, 3.9, 5.3), giant_logg, wd_logg], hb_logg)
    # A white dwarf's surface is hydrogen (DA): it has no [Fe/H] or [α/Fe] to learn.
    feh, alphafe = np.where(is_wd, np.nan, feh), np.where(is_wd, np.nan, alphafe)

    # Inverse CDF of dN/dr ∝ 10^(slope r) on the magnitude range.
    r_bright, r_faint = R_MAGNITUDE_RANGE
    growth = 10.0 ** (R_COUNT_SLOPE * (r_faint - r_bright)) - 1.0
    mag_r = r_bright + np.log10(1.0 + growth * rng.uniform(0.0, 1.0, n)) / R_COUNT_SLOPE

    return {
        "TEFF": np.clip(teff, *TEFF_RANGE),
        "LOGG": logg,
        "FEH": feh,
        "ALPHAFE": alphafe,
        "STAGE": stage,
        "POPULATION": names[population],
        "MAG_R": mag_r,
    }
