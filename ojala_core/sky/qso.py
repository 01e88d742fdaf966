"""Synthetic type-1 QSO spectra (AGN light only) and their virial black-hole masses.

Not for host-galaxy light (the caller adds it) nor for flux calibration (the caller scales).

Convention shared by the sky generators: a spectrum ``S`` is the *observed-frame*
f_λ sampled at *rest-frame* wavelengths, ``f_λ,obs(λ_rest (1+z)) = S(λ_rest)``.
"""
from __future__ import annotations

import contextlib
import functools
import io

import numpy as np
from scipy.constants import c as _C_M_S
from scipy.special import ndtr
from scipy.stats import truncnorm

__all__ = ["QSO_BROAD_LINES", "sample_qso_population", "qso_spectrum", "log_l3000",
           "virial_log_mbh"]

SPEED_OF_LIGHT_KM_S = _C_M_S / 1e3
GAUSSIAN_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

# (name, rest wavelength [Å], mean rest EW [Å], Baldwin slope d log EW / d log L3000).
# Wavelengths and EWs from the SDSS composite, Vanden Berk et al. 2001, AJ 122, 549,
# Table 2 (EWs rounded). Baldwin slopes are round values of the size found by
# Dietrich et al. 2002, ApJ 581, 912 (steepest for C IV); Balmer and forbidden lines
# are given none. Forbidden lines ("[...]") come from the narrow-line region only,
# because their upper levels are collisionally de-excited at broad-line-region densities.
QSO_BROAD_LINES = (
    ("Lyα", 1215.67, 93.0, -0.10),
    ("Si IV+O IV]", 1396.76, 8.0, -0.15),
    ("C IV", 1549.06, 24.0, -0.20),
    ("C III]", 1908.73, 21.0, -0.10),
    ("Mg II", 2798.75, 32.0, -0.10),
    ("[O II]", 3727.09, 1.6, 0.0),
    ("Hγ", 4340.47, 6.0, 0.0),
    ("Hβ", 4861.33, 46.0, 0.0),
    ("[O III]", 5006.84, 13.0, 0.0),
    ("Hα", 6562.80, 195.0, 0.0),
)
NARROW_LINE_FWHM_KM_S = 500.0
QSO_HOST_MAX_Z = 1.0   # beyond it the sky adds no host galaxy

# λL_λ(3000 Å) [dex, erg/s] at which the tabulated EWs apply; about the median of
# SDSS DR7 quasars (Shen et al. 2011, ApJS 194, 45), the parent sample of the composite.
BALDWIN_PIVOT_LOG_L3000 = 45.5

# Fe II pseudo-continuum as smooth boxes: (name, λ_lo [Å], λ_hi [Å], EW at
# FEII_STRENGTH = 1 [Å]). Ranges after the UV template of Vestergaard & Wilkes 2001
# (ApJS 134, 1) and the optical complexes of Boroson & Green 1992 (ApJS 80, 109);
# EWs are round typical values (optical Fe II 4570 ≈ 0.5 EW(Hβ), Boroson & Green 1992).
FEII_BUMPS = (
    ("Fe II UV", 2200.0, 3000.0, 60.0),
    ("Fe II 4570", 4400.0, 4700.0, 25.0),
    ("Fe II 5250", 5100.0, 5400.0, 20.0),
)
# Individual Fe II multiplets are blended by ~2000-5000 km/s broad lines, so the edges
# of each complex are soft on that scale (≈30 Å).
FEII_EDGE_SIGMA = 30.0

# SMC extinction of Pei 1992, ApJ 395, 130, eq. 20 and Table 4:
# ξ(λ) = A_λ / A_B = Σ_i a_i / [(λ/λ_i)^n_i + (λ_i/λ)^n_i + b_i], λ in μm,
# and A_λ = E(B−V) (1 + R_V) ξ(λ). Fitted from the far-UV to the far-IR.
PEI92_SMC_TERMS = (  # (a_i, λ_i [μm], b_i, n_i): BKG, FUV, 2175 Å, 9.7 μm, 18 μm, FIR
    (185.0, 0.042, 90.0, 2.0),
    (27.0, 0.08, 5.50, 4.0),
    (0.005, 0.22, -1.95, 2.0),
    (0.010, 9.7, -1.95, 2.0),
    (0.012, 18.0, -1.80, 2.0),
    (0.030, 25.0, 0.00, 2.0),
)
PEI92_SMC_R_V = 2.93

# Relative dN/dz of QSO targets, shaped after the DESI QSO redshift distribution
# (Chaussidon et al. 2023, ApJ 944, 107): peak at z ≈ 1.5-2, tail to z ≈ 4.
QSO_DNDZ_NODES = (
    (0.3, 0.15), (0.6, 0.45), (1.0, 0.80), (1.5, 1.00), (2.0, 0.95),
    (2.5, 0.60), (3.0, 0.30), (3.5, 0.12), (4.2, 0.02),
)
# dN/dm ∝ 10^(k m): shallower than the real faint-end counts (k ≈ 0.3) so the bright
# end stays populated for training.
QSO_COUNTS_SLOPE_DEX_PER_MAG = 0.2


def sample_qso_population(rng, n, mag_range=(17.0, 22.5)):
    """Draw the parameters of ``n`` synthetic QSOs.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the draw is reproducible for a seeded generator.
    n : int
        Number of QSOs.
    mag_range : tuple of float, optional
        (bright, faint) limits of the target r magnitude [AB mag].

    Returns
    -------
    dict of str to numpy.ndarray
        Arrays of length ``n``:

        ``Z``: redshift, 0.3-4.2, from `QSO_DNDZ_NODES`.
        ``MAG_R``: target r magnitude [AB mag], dN/dm ∝ 10^(0.2 m).
        ``ALPHA_BLUE``: α_ν blueward of the break, N(-0.44, 0.3) (Vanden Berk et al. 2001).
        ``ALPHA_RED``: α_ν redward of the break, N(-1.5, 0.3).
        ``BREAK_WAVE``: rest wavelength of the continuum break [Å], N(5000, 300).
        ``FWHM_BROAD``: broad-line FWHM [km/s], log-normal around 4000 truncated to
        1500-8000.
        ``EW_SCALE``: common multiplicative scatter of all line EWs, log-normal, 0.2 dex.
        ``FEII_STRENGTH``: scale of the Fe II pseudo-continuum, log-normal, 0.35 dex (the
        weak-to-strong Fe II range of eigenvector 1, Boroson & Green 1992).
        ``EBV_SMC``: SMC-like E(B−V) [mag], exponential with mean 0.03, and a reddened tail
        (8 %, mean 0.15; Richards et al. 2003).
        ``HOST_FRACTION_R``: the host galaxy's share of the observed r-band light, logit-normal
        around `host_fraction_median` (σ = 1 in logit), 0 at z ≥ `QSO_HOST_MAX_Z`.
    """
    z_grid = np.linspace(QSO_DNDZ_NODES[0][0], QSO_DNDZ_NODES[-1][0], 2001)
    dndz = np.interp(z_grid, *zip(*QSO_DNDZ_NODES))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dndz[1:] + dndz[:-1]) * np.diff(z_grid))])
    redshift = np.interp(rng.uniform(size=n), cdf / cdf[-1], z_grid)

    # Inverse CDF of dN/dm ∝ 10^(k m) on [m_bright, m_faint].
    k = QSO_COUNTS_SLOPE_DEX_PER_MAG
    bright, faint = 10.0 ** (k * np.asarray(mag_range, dtype=float))
    mag_r = np.log10(bright + rng.uniform(size=n) * (faint - bright)) / k

    alpha_blue = rng.normal(-0.44, 0.3, size=n)
    alpha_red = rng.normal(-1.5, 0.3, size=n)
    break_wave = rng.normal(5000.0, 300.0, size=n)

    log_fwhm_mean, log_fwhm_sigma = np.log10(4000.0), 0.15
    lo, hi = (np.log10([1500.0, 8000.0]) - log_fwhm_mean) / log_fwhm_sigma
    log_fwhm = truncnorm.rvs(lo, hi, loc=log_fwhm_mean, scale=log_fwhm_sigma, size=n,
                             random_state=rng)

    return {
        "Z": redshift,
        "MAG_R": mag_r,
        "ALPHA_BLUE": alpha_blue,
        "ALPHA_RED": alpha_red,
        "BREAK_WAVE": break_wave,
        "FWHM_BROAD": 10.0 ** log_fwhm,
        "EW_SCALE": 10.0 ** rng.normal(0.0, 0.2, size=n),
        "FEII_STRENGTH": 10.0 ** rng.normal(0.0, 0.35, size=n),
        "EBV_SMC": np.where(rng.random(n) < 0.08, rng.exponential(0.15, size=n), rng.exponential(0.03, size=n)),
        "HOST_FRACTION_R": np.where(redshift < QSO_HOST_MAX_Z, _logit_normal(rng, host_fraction_median(redshift)), 0.0),
    }


def _logit_normal(rng, median, sigma=1.0):
    """Fractions in (0, 1) whose logit is normal around logit(`median`) with `sigma`."""
    logit = np.log(median / (1 - median)) + rng.normal(0.0, sigma, np.shape(median))
    return 1.0 / (1.0 + np.exp(-logit))


def host_fraction_median(z):
    """Median host share of a QSO's observed r-band light: ≈ 0.45 at z = 0.1 falling to 0.08 by
    z ≈ 1 (at fixed flux a higher-z QSO is more luminous and its host fainter in r; host-decomposed
    SDSS/DESI spectra, e.g. Vanden Berk et al. 2006, put most z < 0.5 hosts at 20–60 %)."""
    return np.clip(0.5 - 0.45 * np.asarray(z, dtype=float), 0.08, 0.5)


def qso_spectrum(wavelength_rest, z, params, log_l3000=None):
    """Observed-frame f_λ of QSOs sampled at rest-frame wavelengths (arbitrary scale).

    S(λ) = [C(λ) + Σ_lines F_i G_i(λ) + FeII(λ)] 10^(-0.4 A_λ) T_IGM(λ, z), with

    - C(λ): broken power law, f_ν ∝ ν^α ⇒ f_λ ∝ λ^(-2-α), α = ALPHA_BLUE below
      BREAK_WAVE and ALPHA_RED above, continuous at the break where C = 1;
    - line flux F_i = EW_i C(λ_i), EW_i = EW_i,VB01 × EW_SCALE × (L3000/L0)^β_i
      (Baldwin effect, L0 = 10^45.5 erg/s; omitted when ``log_l3000`` is None);
      G_i a unit-area Gaussian of FWHM_BROAD, or 500 km/s for forbidden lines,
      averaged over each pixel so the flux is kept on coarse grids;
    - FeII(λ): soft-edged boxes of `FEII_BUMPS` times C(λ) × FEII_STRENGTH;
    - A_λ: Pei (1992) SMC law with EBV_SMC, applied in the QSO rest frame;
    - T_IGM: Inoue et al. 2014 (MNRAS 442, 1805) mean IGM transmission, via bagpipes.

    Parameters
    ----------
    wavelength_rest : array_like, shape (n_wave,)
        Strictly increasing rest-frame wavelengths [Å], at least two; any range within
        ~10 Å to ~1 mm (the Pei 1992 fit range).
    z : array_like, shape (n,)
        Redshifts, 0 to 10 (the bagpipes IGM grid).
    params : mapping of str to array_like, shape (n,)
        As returned by `sample_qso_population`; the keys ALPHA_BLUE, ALPHA_RED,
        BREAK_WAVE [Å], FWHM_BROAD [km/s], EW_SCALE, FEII_STRENGTH and EBV_SMC [mag]
        are used. EW_SCALE = 0, FEII_STRENGTH = 0 or EBV_SMC = 0 switch off the lines,
        the Fe II pseudo-continuum or the reddening.
    log_l3000 : array_like, shape (n,), optional
        log10 λL_λ(3000 Å) [erg/s] driving the Baldwin effect; None for no Baldwin term.

    Returns
    -------
    numpy.ndarray, shape (n, n_wave), float64
        S(λ_rest), observed-frame f_λ up to a per-object constant. Memory goes as
        n × n_wave: chunk large populations.
    """
    wave = np.asarray(wavelength_rest, dtype=np.float64)
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    p = {key: np.asarray(params[key], dtype=np.float64)[:, None] for key in
         ("ALPHA_BLUE", "ALPHA_RED", "BREAK_WAVE", "FWHM_BROAD", "EW_SCALE",
          "FEII_STRENGTH", "EBV_SMC")}

    def continuum(lam):
        alpha = np.where(lam < p["BREAK_WAVE"], p["ALPHA_BLUE"], p["ALPHA_RED"])
        return (lam / p["BREAK_WAVE"]) ** (-2.0 - alpha)

    cont = continuum(wave)  # (n, n_wave)
    spectrum = cont.copy()

    edges = _pixel_edges(wave)
    widths = np.diff(edges)
    if log_l3000 is None:
        dex_above_pivot = 0.0
    else:
        dex_above_pivot = np.asarray(log_l3000, dtype=np.float64).reshape(-1, 1) \
            - BALDWIN_PIVOT_LOG_L3000
    for name, line_wave, ew, baldwin_slope in QSO_BROAD_LINES:
        ew_i = ew * p["EW_SCALE"] * 10.0 ** (baldwin_slope * dex_above_pivot)
        fwhm = NARROW_LINE_FWHM_KM_S if name.startswith("[") else p["FWHM_BROAD"]
        sigma = line_wave * fwhm / SPEED_OF_LIGHT_KM_S / GAUSSIAN_FWHM_PER_SIGMA
        pixel_profile = np.diff(ndtr((edges - line_wave) / sigma), axis=-1) / widths
        spectrum += ew_i * continuum(np.float64(line_wave)) * pixel_profile

    feii_shape = np.zeros_like(wave)
    for _, lo, hi, ew in FEII_BUMPS:
        box = ndtr((wave - lo) / FEII_EDGE_SIGMA) - ndtr((wave - hi) / FEII_EDGE_SIGMA)
        feii_shape += ew / (hi - lo) * box
    spectrum += p["FEII_STRENGTH"] * feii_shape * cont

    a_lambda = p["EBV_SMC"] * (1.0 + PEI92_SMC_R_V) * _pei92_smc_xi(wave)
    spectrum *= 10.0 ** (-0.4 * a_lambda)
    spectrum *= _inoue14_transmission(wave, z)
    return spectrum


def log_l3000(wavelength_rest, spectrum, z, luminosity_distance_cm):
    """log10 λL_λ at 3000 Å rest from a spectrum in physical observed f_λ units.

    λL_λ(3000) = 4π d_L² (1+z) ⟨S⟩ × 3000 Å, with ⟨S⟩ the mean of S over 2950-3050 Å
    rest (clear of Mg II; the soft edge of the UV Fe II box adds ≲ 0.02 dex). The
    (1+z) turns the observed f_λ into the rest-frame L_λ.

    Parameters
    ----------
    wavelength_rest : array_like, shape (n_wave,)
        Rest-frame wavelengths [Å].
    spectrum : array_like, shape (..., n_wave)
        S(λ_rest) scaled to observed f_λ [erg/s/cm²/Å].
    z : array_like, shape (...)
        Redshifts.
    luminosity_distance_cm : array_like, shape (...)
        Luminosity distances [cm].

    Returns
    -------
    numpy.ndarray, shape (...)
        log10 λL_λ(3000 Å) [erg/s]; NaN when the grid misses 2950-3050 Å.
    """
    wave = np.asarray(wavelength_rest, dtype=np.float64)
    spectrum = np.asarray(spectrum, dtype=np.float64)
    window = (wave >= 2950.0) & (wave <= 3050.0)
    if not window.any():
        return np.full(np.broadcast_shapes(spectrum.shape[:-1], np.shape(z),
                                           np.shape(luminosity_distance_cm)), np.nan)
    mean_flux = spectrum[..., window].mean(axis=-1)
    d_l = np.asarray(luminosity_distance_cm, dtype=np.float64)
    return np.log10(4.0 * np.pi * d_l**2 * (1.0 + np.asarray(z)) * mean_flux * 3000.0)


def virial_log_mbh(fwhm_mgii_kms, log_l3000):
    """Single-epoch virial black-hole mass from Mg II.

    log M_BH = 6.86 + 2 log10(FWHM / 1000 km/s) + 0.5 log10(λL_λ(3000) / 10^44 erg/s),
    Vestergaard & Osmer 2009, ApJ 699, 800, eq. 1 (intrinsic scatter ≈ 0.55 dex).

    Parameters
    ----------
    fwhm_mgii_kms : array_like
        FWHM of broad Mg II [km/s].
    log_l3000 : array_like
        log10 λL_λ(3000 Å) [erg/s].

    Returns
    -------
    numpy.ndarray
        log10 M_BH [M_sun].
    """
    fwhm = np.asarray(fwhm_mgii_kms, dtype=np.float64)
    return 6.86 + 2.0 * np.log10(fwhm / 1000.0) + 0.5 * (np.asarray(log_l3000) - 44.0)


def _pixel_edges(wave):
    """Pixel edges [Å] halfway between samples, extended by half a pixel at the ends."""
    mid = 0.5 * (wave[1:] + wave[:-1])
    return np.concatenate([[2.0 * wave[0] - mid[0]], mid, [2.0 * wave[-1] - mid[-1]]])


def _pei92_smc_xi(wave):
    """ξ(λ) = A_λ / A_B of the Pei (1992) SMC law at rest wavelengths ``wave`` [Å]."""
    lam_um = wave / 1e4
    return sum(a / ((lam_um / lam_i) ** n_i + (lam_i / lam_um) ** n_i + b)
               for a, lam_i, b, n_i in PEI92_SMC_TERMS)


def _inoue14_transmission(wave, z):
    """Inoue et al. (2014) IGM transmission, shape (n, n_wave), at rest ``wave`` [Å].

    The model only absorbs blueward of Lyα; the bagpipes grid ends at 1225 Å, so it is
    built on the pixels below that (a small grid, even for 60 μm-long spectra).
    """
    transmission = np.ones((z.size, wave.size))
    absorbed = wave <= 1225.0
    if absorbed.sum() < 2:
        return transmission
    model = _bagpipes_igm(np.ascontiguousarray(wave[absorbed]).tobytes())
    # bagpipes interpolates its grid one redshift at a time.
    for i, redshift in enumerate(z):
        transmission[i, absorbed] = model.trans(redshift)
    return transmission


@functools.lru_cache(maxsize=8)
def _bagpipes_igm(wave_bytes):
    """bagpipes Inoue (2014) model resampled once per distinct wavelength array."""
    # bagpipes is slow to import and prints its configuration to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        from bagpipes.models.igm_model import igm as BagpipesIGM
    return BagpipesIGM(np.frombuffer(wave_bytes, dtype=np.float64))
