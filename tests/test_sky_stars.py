"""The sky's stars: spectra from the model-atmosphere grids (PHOENIX-ACES, BT-Settl, Koester DA)
and the Milky Way star populations.

The grid checks are against physics the grids must show (Wien's law, the Balmer jump of A
stars, TiO in M dwarfs, the metal-poor UV excess, the white dwarfs' pressure-broadened Balmer
lines), and against the grid files themselves (nodes reproduced, α-planes used).
"""
import numpy as np
import pytest

from ojala_core.sky.stars import (
    EVOLUTIONARY_STAGES,
    STELLAR_POPULATIONS,
    sample_stellar_population,
    stellar_spectrum,
)
from ojala_core.sky.stellar_library import (
    PHOENIX_TEFF_MAX,
    _package_path,
    library_spectrum,
    load_grid,
    read_sedfit,
)

WAVELENGTH = np.geomspace(1200.0, 50000.0, 3000)  # [Å]


def spectrum(teff, logg=4.5, feh=0.0, alphafe=0.0, wavelength=WAVELENGTH):
    """One star's spectrum, shape (n_wave,)."""
    return stellar_spectrum(wavelength, [teff], [logg], [feh], [alphafe])[0]


def mean_flux(flux, lo, hi, wavelength=WAVELENGTH):
    return flux[(wavelength >= lo) & (wavelength <= hi)].mean()


# --- The grids ------------------------------------------------------------------------

def test_a_grid_node_comes_back_exactly_normalised_at_5500():
    grid = load_grid("phoenix")
    node = np.flatnonzero((grid.teff == 5800.0) & (grid.logg == 4.5) & (grid.feh == 0.0) & (grid.alpha == 0.0))[0]
    flux = library_spectrum(grid.wavelength[50:700], [5800.0], [4.5], [0.0], [0.0])[0]
    expected = 10.0 ** (grid.log_flambda[node, 50:700] - np.interp(5500.0, grid.wavelength,
                                                                   grid.log_flambda[node]))
    np.testing.assert_allclose(flux, expected, rtol=2e-5)
    assert mean_flux(flux, 5450, 5550, grid.wavelength[50:700]) == pytest.approx(1.0, abs=0.05)


def test_the_cache_holds_what_the_package_file_holds():
    raw = read_sedfit(_package_path("SEDFit", "sed_btsettl.p"))
    grid = load_grid("btsettl")
    np.testing.assert_array_equal(grid.teff, raw["teff"])
    np.testing.assert_array_equal(grid.log_flambda, raw["log_flambda"])


def test_wien_peak_moves_blueward_and_the_optical_turns_bluer_with_hotter_teff_on_all_three_grids():
    peaks = [WAVELENGTH[np.argmax(spectrum(t, logg))] for t, logg in
             ((3000.0, 5.0), (4500.0, 4.6), (6000.0, 4.3), (9000.0, 4.0))]
    assert np.all(np.diff(peaks) < 0), peaks
    assert peaks[2] * 6000.0 == pytest.approx(2.898e7, rel=0.3)     # Wien's law for a G dwarf
    blue_to_red = [mean_flux(f, 3900, 4100) / mean_flux(f, 6900, 7100) for f in
                   (spectrum(t, g) for t, g in ((6000.0, 4.3), (11000.0, 4.0), (20000.0, 4.0), (35000.0, 4.0),
                                                (8000.0, 8.0), (30000.0, 8.0)))]
    assert np.all(np.diff(blue_to_red[:4]) > 0) and blue_to_red[5] > blue_to_red[4], blue_to_red


def test_the_phoenix_btsettl_seam_is_smooth():
    below, above = spectrum(PHOENIX_TEFF_MAX - 1.0, 4.0), spectrum(PHOENIX_TEFF_MAX + 1.0, 4.0)
    optical = (WAVELENGTH > 3500) & (WAVELENGTH < 10000)
    assert np.max(np.abs(np.log10(above[optical] / below[optical]))) < 0.05


def test_balmer_jump_is_largest_for_a_stars():
    def jump(teff):
        flux = spectrum(teff, 4.0)
        return mean_flux(flux, 4000, 4150) / mean_flux(flux, 3550, 3640)
    assert jump(9500.0) > jump(6000.0) and jump(9500.0) > jump(25000.0) and jump(9500.0) > 1.8


def test_tio_makes_an_m_dwarf_jagged_and_a_g_dwarf_smooth():
    def tio(teff):   # the 7,054 Å TiO band head: flux just redward over just blueward
        flux = spectrum(teff, 5.0 if teff < 4000 else 4.4)
        return mean_flux(flux, 7060, 7150) / mean_flux(flux, 6980, 7040)
    assert tio(3100.0) < 0.8 < 0.95 < tio(5800.0)


def test_metal_poor_stars_are_brighter_in_the_near_uv():
    ratio = [mean_flux(f, 3700, 4000) / mean_flux(f, 5400, 5600)
             for f in (spectrum(5000.0, 4.6, feh) for feh in (0.0, -1.0, -2.0))]
    assert ratio[0] < ratio[1] < ratio[2]


def test_alpha_enhancement_uses_the_alpha_planes_where_they_exist():
    solar, enhanced = spectrum(5000.0, 4.5, -1.0, 0.0), spectrum(5000.0, 4.5, -1.0, 0.4)
    assert np.max(np.abs(np.log10(enhanced / solar))) > 0.01
    hot_solar, hot_enhanced = spectrum(10500.0, 4.0, -1.0, 0.0), spectrum(10500.0, 4.0, -1.0, 0.4)
    np.testing.assert_allclose(hot_enhanced, hot_solar)            # no α-planes above 8,000 K


def test_white_dwarfs_have_broad_balmer_lines_that_a_main_sequence_a_star_lacks():
    def hbeta_depth(flux):
        return 1 - mean_flux(flux, 4820, 4900) / (0.5 * (mean_flux(flux, 4500, 4600) + mean_flux(flux, 5150, 5250)))
    white_dwarf, dwarf = spectrum(12000.0, 8.0), spectrum(12000.0, 4.0)
    assert hbeta_depth(white_dwarf) > 0.25 and hbeta_depth(white_dwarf) > hbeta_depth(dwarf)


# --- Populations ----------------------------------------------------------------------

def test_spectra_of_a_random_population_are_finite_and_positive():
    stars = sample_stellar_population(np.random.default_rng(0), 500)
    grid = np.geomspace(1000.0, 60000.0, 4000)
    flux = stellar_spectrum(grid, stars["TEFF"], stars["LOGG"], stars["FEH"], stars["ALPHAFE"])
    assert flux.shape == (500, grid.size)
    assert np.all(np.isfinite(flux)) and np.all(flux > 0)


@pytest.mark.parametrize("seed", range(5))
def test_300_stars_span_late_m_dwarfs_to_b_stars(seed):
    teff = sample_stellar_population(np.random.default_rng(seed), 300)["TEFF"]
    assert teff.min() < 3000.0 and teff.max() > 20000.0


def test_population_ranges_follow_the_design():
    stars = sample_stellar_population(np.random.default_rng(1), 5000)
    teff, logg, feh, alphafe = (stars[k] for k in ("TEFF", "LOGG", "FEH", "ALPHAFE"))
    assert teff.min() >= 2800.0 and teff.max() <= 40000.0
    white_dwarf = stars["STAGE"] == "white_dwarf"
    assert set(stars["STAGE"]) == set(EVOLUTIONARY_STAGES) and np.all(logg[white_dwarf] >= 7.0)
    assert np.isnan(feh[white_dwarf]).all() and np.isfinite(feh[~white_dwarf]).all()
    feh, alphafe, teff, logg = feh[~white_dwarf], alphafe[~white_dwarf], teff[~white_dwarf], logg[~white_dwarf]
    stars = {k: v[~white_dwarf] for k, v in stars.items()}
    assert feh.min() >= -2.5 and feh.max() <= 0.5
    assert set(stars["POPULATION"]) == set(STELLAR_POPULATIONS)
    halo_hb = (stars["STAGE"] == "horizontal_branch") & (stars["POPULATION"] == "halo")
    assert halo_hb.any() and teff[halo_hb].min() >= 7500.0            # blue horizontal branch
    assert np.mean(stars["POPULATION"] == "thin_disk") > 0.5

    giants = stars["STAGE"] == "giant_branch"
    assert 0.18 < giants.mean() < 0.32
    # Among giants, cooler ones have lower log g.
    assert np.corrcoef(teff[giants], logg[giants])[0, 1] > 0.5
    dwarfs = stars["STAGE"] == "main_sequence"
    assert np.all((logg[dwarfs] >= 3.9) & (logg[dwarfs] <= 5.3))

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
