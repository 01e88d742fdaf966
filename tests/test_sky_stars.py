"""Specifications of the parametric stellar spectra and the Milky Way star populations.

Not a validation against real stars: the expectations are the spectral-class trends the
approximation in `ojala_core.sky.stars` promises.
"""
import numpy as np
import pytest

from ojala_core.sky.stars import (
    ABSORPTION_FEATURES,
    DEPTH_LAWS,
    PROFILES,
    STELLAR_POPULATIONS,
    WIDTH_LAWS,
    sample_stellar_population,
    stellar_spectrum,
)

WAVELENGTH = np.arange(1000.0, 60000.0, 0.5)  # [Å]
C2 = 1.438776877e8  # hc/k [Å K]


def planck_flambda(wavelength, teff):
    """B_λ(T) up to a constant, written out by hand."""
    return wavelength ** -5.0 / np.expm1(C2 / (wavelength * teff))


def spectrum(teff, logg=4.5, feh=0.0, alphafe=0.0, wavelength=WAVELENGTH):
    """One star's spectrum, shape (n_wave,)."""
    return stellar_spectrum(wavelength, [teff], [logg], [feh], [alphafe])[0]


def mean_flux(flux, lo, hi):
    window = (WAVELENGTH >= lo) & (WAVELENGTH <= hi)
    return flux[window].mean()


def equivalent_width(flux, line, blue, red):
    """EW [Å] over `line` = (lo, hi), continuum a straight line through the sidebands."""
    sidebands = [np.mean(band) for band in (blue, red)]
    continuum = [mean_flux(flux, *band) for band in (blue, red)]
    window = (WAVELENGTH >= line[0]) & (WAVELENGTH <= line[1])
    depth = 1.0 - flux[window] / np.interp(WAVELENGTH[window], sidebands, continuum)
    return np.trapezoid(depth, WAVELENGTH[window])


def band_depth(flux, teff, band, reference):
    """1 − (f_band / f_reference) / (B_band / B_reference): 0 for a bare Planck continuum."""
    planck = planck_flambda(WAVELENGTH, teff)
    observed = mean_flux(flux, *band) / mean_flux(flux, *reference)
    return 1.0 - observed / (mean_flux(planck, *band) / mean_flux(planck, *reference))


def hbeta_ew(flux):
    return equivalent_width(flux, (4832.0, 4893.0), (4800.0, 4820.0), (4905.0, 4925.0))


def ca_8542_ew(flux):
    return equivalent_width(flux, (8530.0, 8560.0), (8515.0, 8525.0), (8565.0, 8575.0))


def mg_b_ew(flux):
    return equivalent_width(flux, (5160.0, 5195.0), (5140.0, 5155.0), (5200.0, 5215.0))


def ca_k_ew(flux):
    return equivalent_width(flux, (3915.0, 3950.0), (3900.0, 3910.0), (3955.0, 3962.0))


# --- The feature table ----------------------------------------------------------------

def test_every_feature_row_names_a_known_profile_and_laws():
    for feature in ABSORPTION_FEATURES:
        assert feature.profile in PROFILES
        assert feature.depth_law in DEPTH_LAWS
        assert feature.width_law in WIDTH_LAWS
        assert feature.tau0 > 0 and feature.width > 0


def test_feature_table_holds_the_design_features():
    names = {feature.name for feature in ABSORPTION_FEATURES}
    expected = {"BALMER_JUMP", "H_ALPHA", "H_BETA", "H_GAMMA", "H_DELTA", "H_EPSILON",
                "CAII_K", "CAII_H", "G_BAND", "MG_B1", "NA_D2", "CAII_8542",
                "TIO_7054", "CAH_6382", "LINE_BLANKETING"}
    assert expected <= names


# --- Continuum ------------------------------------------------------------------------

def test_output_shape_dtype_and_grid_independent_normalisation():
    flux = stellar_spectrum(WAVELENGTH, [5000.0, 8000.0], [4.5, 4.0], [0.0, -1.0], [0.0, 0.3])
    assert flux.shape == (2, WAVELENGTH.size) and flux.dtype == np.float64
    coarse = WAVELENGTH[::7]
    np.testing.assert_allclose(
        stellar_spectrum(coarse, [5000.0], [4.5], [0.0], [0.0])[0], flux[0, ::7], rtol=1e-12)


def test_planck_continuum_is_one_at_5500_angstrom_for_a_featureless_star():
    # A metal-poor F star has no feature near 5,500 Å.
    flux = spectrum(7000.0, feh=-2.5, wavelength=np.array([5500.0]))
    assert flux[0] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("teff, feh, blue, red", [
    (6000.0, 0.0, 10500.0, 20000.0),    # beyond every feature
    (4000.0, 0.3, 12000.0, 40000.0),
    (7000.0, -2.5, 5600.0, 8000.0),     # optical, far from lines, no blanketing
])
def test_continuum_ratio_far_from_features_is_the_planck_ratio(teff, feh, blue, red):
    flux = spectrum(teff, feh=feh, wavelength=np.array([blue, red]))
    planck = planck_flambda(np.array([blue, red]), teff)
    assert flux[0] / flux[1] == pytest.approx(planck[0] / planck[1], rel=0.02)


def test_wien_peak_moves_blueward_with_hotter_teff():
    teffs = [3500.0, 5000.0, 7000.0, 10000.0]
    peaks = [WAVELENGTH[np.argmax(spectrum(t))] for t in teffs]
    assert np.all(np.diff(peaks) < 0)


def test_metal_poor_star_peaks_near_wien_wavelength():
    # Wien: λ_max = 2.898e7 Å K / T = 5,796 Å at 5,000 K; blanketing is weak at [Fe/H] = −2.5.
    peak = WAVELENGTH[np.argmax(spectrum(5000.0, feh=-2.5))]
    assert peak == pytest.approx(2.898e7 / 5000.0, rel=0.05)


def test_uv_blanketing_grows_with_metallicity_and_toward_cool_stars():
    def uv_to_planck(teff, feh):
        return band_depth(spectrum(teff, feh=feh), teff, (2400.0, 2600.0), (10000.0, 11000.0))

    assert uv_to_planck(5000.0, 0.3) > uv_to_planck(5000.0, -2.0) + 0.2
    assert uv_to_planck(3500.0, 0.0) > uv_to_planck(6000.0, 0.0)
    assert uv_to_planck(3500.0, 0.0) > 0.9  # a cool dwarf is dark in the UV


# --- Hydrogen -------------------------------------------------------------------------

def test_hbeta_equivalent_width_peaks_near_9000_k():
    ew = {teff: hbeta_ew(spectrum(teff, logg=4.2)) for teff in (6000.0, 9000.0, 10000.0)}
    assert ew[9000.0] > ew[10000.0] > ew[6000.0] > 2.0
    assert 8.0 < ew[9000.0] < 20.0  # A-star Hβ: ~10–15 Å


def test_balmer_lines_narrow_with_lower_log_g():
    assert hbeta_ew(spectrum(9000.0, logg=2.5)) < 0.8 * hbeta_ew(spectrum(9000.0, logg=4.5))


def test_balmer_jump_is_largest_for_a_stars():
    def jump(teff):
        return band_depth(spectrum(teff, feh=-1.0), teff, (3550.0, 3600.0), (4150.0, 4250.0))

    assert jump(9000.0) > jump(6000.0) + 0.2
    assert jump(9000.0) > 0.5  # flux below 3,646 Å more than halved relative to Planck


# --- Metal lines and molecular bands --------------------------------------------------

def test_tio_band_at_7054_is_deep_in_an_m_dwarf_and_absent_at_6000_k():
    def tio(teff):
        return band_depth(spectrum(teff, logg=4.8), teff, (7060.0, 7150.0), (7035.0, 7048.0))

    assert tio(3500.0) > 0.3
    assert tio(6000.0) == pytest.approx(0.0, abs=0.01)


def test_cah_is_stronger_in_dwarfs_than_giants():
    def cah(logg):
        return band_depth(spectrum(3600.0, logg=logg), 3600.0, (6385.0, 6420.0), (6350.0, 6375.0))

    assert cah(4.8) > cah(1.0) + 0.05


def test_calcium_triplet_is_stronger_in_giants():
    assert ca_8542_ew(spectrum(4500.0, logg=1.5)) > 1.3 * ca_8542_ew(spectrum(4500.0, logg=4.6))


def test_mg_b_is_deeper_for_alpha_enhanced_stars():
    assert mg_b_ew(spectrum(5000.0, alphafe=0.4)) > 1.2 * mg_b_ew(spectrum(5000.0, alphafe=0.0))


def test_metal_lines_grow_with_metallicity_and_toward_cool_stars():
    assert ca_k_ew(spectrum(5500.0, feh=0.0)) > ca_k_ew(spectrum(5500.0, feh=-2.0))
    assert mg_b_ew(spectrum(4500.0)) > mg_b_ew(spectrum(6500.0)) > mg_b_ew(spectrum(9500.0))


# --- Populations ----------------------------------------------------------------------

def test_spectra_of_a_random_population_are_finite_and_positive():
    stars = sample_stellar_population(np.random.default_rng(0), 500)
    grid = np.geomspace(1000.0, 60000.0, 4000)
    flux = stellar_spectrum(grid, stars["TEFF"], stars["LOGG"], stars["FEH"], stars["ALPHAFE"])
    assert flux.shape == (500, grid.size)
    assert np.all(np.isfinite(flux)) and np.all(flux > 0)


@pytest.mark.parametrize("seed", range(5))
def test_300_stars_span_m_dwarfs_to_a_stars(seed):
    teff = sample_stellar_population(np.random.default_rng(seed), 300)["TEFF"]
    assert teff.min() < 3600.0 and teff.max() > 9000.0


def test_population_ranges_follow_the_design():
    stars = sample_stellar_population(np.random.default_rng(1), 5000)
    teff, logg, feh, alphafe = (stars[k] for k in ("TEFF", "LOGG", "FEH", "ALPHAFE"))
    assert teff.min() >= 3500.0 and teff.max() <= 10000.0
    assert feh.min() >= -2.5 and feh.max() <= 0.5
    assert set(stars["POPULATION"]) == set(STELLAR_POPULATIONS)
    assert np.mean(stars["POPULATION"] == "thin_disk") > 0.5

    giants = (logg < 3.6) & (teff < 5600.0)
    assert 0.18 < giants.mean() < 0.32
    # Among giants, cooler ones have lower log g.
    assert np.corrcoef(teff[giants], logg[giants])[0, 1] > 0.5
    dwarfs = logg >= 4.0
    assert np.all(logg[dwarfs] <= 5.0)

    assert np.mean(alphafe[feh < -1.0]) == pytest.approx(0.3, abs=0.05)
    assert np.mean(alphafe[stars["POPULATION"] == "thin_disk"]) < 0.1
    assert np.mean(alphafe[stars["POPULATION"] == "thick_disk"]) > 0.15

    mag_r = stars["MAG_R"]
    assert mag_r.min() >= 15.0 and mag_r.max() <= 19.5
    assert np.sum(mag_r > 18.5) > 3 * np.sum(mag_r < 16.0)


def test_same_seed_gives_the_same_stars():
    first = sample_stellar_population(np.random.default_rng(42), 100)
    second = sample_stellar_population(np.random.default_rng(42), 100)
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    other = sample_stellar_population(np.random.default_rng(43), 100)
    assert not np.array_equal(first["TEFF"], other["TEFF"])
