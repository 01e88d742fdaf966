"""Specifications of the synthetic QSO spectra in `ojala_core.sky.qso`."""
import numpy as np
import pytest

from ojala_core.sky.qso import QSO_BROAD_LINES, log_l3000, qso_spectrum, sample_qso_population, virial_log_mbh

FINE_GRID = np.arange(900.0, 8000.0, 0.5)  # rest Å; resolves 1500 km/s lines


def qso_params(n=1, **overrides):
    """Parameters of ``n`` identical QSOs with every component but the continuum on."""
    params = {"ALPHA_BLUE": -0.44, "ALPHA_RED": -1.5, "BREAK_WAVE": 5000.0,
              "FWHM_BROAD": 3000.0, "EW_SCALE": 1.0, "FEII_STRENGTH": 1.0, "EBV_SMC": 0.0}
    params.update(overrides)
    return {key: np.full(n, value, dtype=float) for key, value in params.items()}


def bare_continuum(**overrides):
    return qso_params(EW_SCALE=0.0, FEII_STRENGTH=0.0, EBV_SMC=0.0, **overrides)


def value_at(wave, spectrum, target):
    return spectrum[..., np.argmin(np.abs(wave - target))]


def table_ew(name):
    return next(ew for line, _, ew, _ in QSO_BROAD_LINES if line == name)


def test_continuum_slope_is_minus_two_minus_alpha_nu_on_both_sides_of_the_break():
    # f_ν ∝ ν^α ⇒ f_λ ∝ λ^(-2-α): -1.56 for α = -0.44 and -0.5 for α = -1.5.
    spectrum = qso_spectrum(FINE_GRID, [2.0], bare_continuum())[0]
    blue = np.log(value_at(FINE_GRID, spectrum, 4000.0) / value_at(FINE_GRID, spectrum, 2000.0))
    red = np.log(value_at(FINE_GRID, spectrum, 7500.0) / value_at(FINE_GRID, spectrum, 6000.0))
    assert blue / np.log(2.0) == pytest.approx(-1.56, abs=1e-6)
    assert red / np.log(7500.0 / 6000.0) == pytest.approx(-0.5, abs=1e-6)


def test_mgii_flux_over_the_continuum_equals_the_tabulated_equivalent_width():
    with_lines = qso_spectrum(FINE_GRID, [1.0], qso_params(FEII_STRENGTH=0.0))[0]
    continuum = qso_spectrum(FINE_GRID, [1.0], bare_continuum())[0]
    window = (FINE_GRID > 2650.0) & (FINE_GRID < 2950.0)
    line_flux = np.trapezoid((with_lines - continuum)[window], FINE_GRID[window])
    ew = line_flux / value_at(FINE_GRID, continuum, 2798.75)
    assert ew == pytest.approx(table_ew("Mg II"), rel=0.03)


def test_ew_scale_multiplies_the_line_flux():
    continuum = qso_spectrum(FINE_GRID, [1.0], bare_continuum())[0]
    single, double = (qso_spectrum(FINE_GRID, [1.0], qso_params(FEII_STRENGTH=0.0, EW_SCALE=s))[0]
                      - continuum for s in (1.0, 2.0))
    assert np.trapezoid(double, FINE_GRID) == pytest.approx(2.0 * np.trapezoid(single, FINE_GRID))


def test_baldwin_effect_scales_civ_ew_as_luminosity_to_the_minus_0p2():
    # β(C IV) = -0.2: one dex above the 10^45.5 erg/s pivot gives EW × 10^-0.2 = 0.631.
    params = qso_params(FEII_STRENGTH=0.0)
    continuum = qso_spectrum(FINE_GRID, [2.0], bare_continuum())[0]
    window = (FINE_GRID > 1450.0) & (FINE_GRID < 1650.0)
    flux = [np.trapezoid((qso_spectrum(FINE_GRID, [2.0], params, log_l3000=[log_l])[0]
                      - continuum)[window], FINE_GRID[window]) for log_l in (45.5, 46.5)]
    assert flux[1] / flux[0] == pytest.approx(10.0 ** -0.2, rel=1e-6)


def test_feii_strength_adds_the_uv_pseudo_continuum_only_between_2200_and_3000():
    without = qso_spectrum(FINE_GRID, [1.0], bare_continuum())[0]
    with_feii = qso_spectrum(FINE_GRID, [1.0], qso_params(EW_SCALE=0.0))[0]
    excess = with_feii / without - 1.0
    assert value_at(FINE_GRID, excess, 2500.0) > 0.05
    assert value_at(FINE_GRID, excess, 1800.0) == pytest.approx(0.0, abs=1e-6)


def test_lya_forest_is_more_suppressed_at_z_3p5_than_at_z_2p2():
    # Mean Lyα-forest transmission: ≈ 0.85 at z_abs ≈ 2 and ≈ 0.65 at z_abs ≈ 3.2
    # (e.g. Faucher-Giguère et al. 2008); at z = 0 there is no IGM in front.
    params = qso_params(n=3)
    spectra = qso_spectrum(FINE_GRID, [0.0, 2.2, 3.5], params)
    forest = (FINE_GRID > 1050.0) & (FINE_GRID < 1170.0)
    transmission = (spectra[1:, forest] / spectra[0, forest]).mean(axis=1)
    assert 0.8 < transmission[0] < 0.95
    assert 0.5 < transmission[1] < 0.75


def test_igm_leaves_the_spectrum_redward_of_lya_untouched():
    spectra = qso_spectrum(FINE_GRID, [0.0, 2.2, 3.5], qso_params(n=3))
    red = FINE_GRID > 1230.0
    np.testing.assert_array_equal(spectra[1, red], spectra[0, red])
    np.testing.assert_array_equal(spectra[2, red], spectra[0, red])


def test_smc_reddening_gives_a_colour_excess_of_ebv_between_4400_and_5500():
    # Pei (1992) normalises A_B - A_V = E(B-V); his fit honours it to better than 10%.
    reddened, clear = (qso_spectrum(FINE_GRID, [1.0], qso_params(EBV_SMC=ebv))[0]
                       for ebv in (0.2, 0.0))
    attenuation_mag = -2.5 * np.log10(reddened / clear)
    colour_excess = value_at(FINE_GRID, attenuation_mag, 4400.0) \
        - value_at(FINE_GRID, attenuation_mag, 5500.0)
    assert colour_excess == pytest.approx(0.2, rel=0.1)
    assert value_at(FINE_GRID, attenuation_mag, 1500.0) > 3.0 * colour_excess


def test_log_l3000_of_a_flat_spectrum_is_four_pi_dl2_one_plus_z_times_3000():
    d_l, z, flux = 1e28, 2.0, 1e-17
    spectrum = np.full((2, FINE_GRID.size), flux)
    expected = np.log10(4.0 * np.pi * d_l**2 * 3.0 * flux * 3000.0)
    np.testing.assert_allclose(log_l3000(FINE_GRID, spectrum, [z, z], [d_l, d_l]),
                               [expected, expected])


def test_log_l3000_is_missing_when_the_grid_misses_3000_angstrom():
    wave = np.arange(4000.0, 5000.0)
    assert np.isnan(log_l3000(wave, np.ones((3, wave.size)), np.ones(3), np.ones(3))).all()


def test_virial_mass_zero_point_and_two_dex_per_decade_in_fwhm():
    assert virial_log_mbh(1000.0, 44.0) == pytest.approx(6.86)
    assert virial_log_mbh(10000.0, 44.0) == pytest.approx(8.86)
    assert virial_log_mbh(1000.0, 46.0) == pytest.approx(7.86)


def test_sampled_population_spans_the_desi_qso_ranges():
    population = sample_qso_population(np.random.default_rng(0), 1000)
    assert all(v.shape == (1000,) for v in population.values())
    assert population["Z"].min() >= 0.3 and population["Z"].max() >= 3.5
    assert 1.3 < np.median(population["Z"]) < 2.2
    assert population["MAG_R"].min() >= 17.0 and population["MAG_R"].max() <= 22.5
    assert (population["MAG_R"] > 19.75).mean() > 0.6  # counts rise to the faint end
    assert population["FWHM_BROAD"].min() >= 1500.0
    assert population["FWHM_BROAD"].max() <= 8000.0
    assert (population["EBV_SMC"] >= 0.0).all()
    assert (population["EBV_SMC"] < 0.1).mean() > 0.9


def test_a_few_of_300_qsos_lie_above_z_3p5():
    population = sample_qso_population(np.random.default_rng(42), 300)
    assert (population["Z"] > 3.5).sum() >= 2


def test_same_seed_gives_the_same_population_and_spectra():
    first, second = (sample_qso_population(np.random.default_rng(7), 50) for _ in range(2))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    wave = np.geomspace(500.0, 60000.0, 2000)
    np.testing.assert_array_equal(qso_spectrum(wave, first["Z"], first),
                                  qso_spectrum(wave, second["Z"], second))
    other = sample_qso_population(np.random.default_rng(8), 50)
    assert not np.array_equal(first["Z"], other["Z"])


def test_spectra_of_200_sampled_qsos_are_finite_and_positive_from_500_to_60000_angstrom():
    population = sample_qso_population(np.random.default_rng(1), 200)
    wave = np.geomspace(500.0, 60000.0, 5000)
    spectra = qso_spectrum(wave, population["Z"], population)
    assert spectra.shape == (200, 5000) and spectra.dtype == np.float64
    assert np.isfinite(spectra).all() and (spectra > 0.0).all()


def test_lines_keep_their_flux_on_a_coarse_grid():
    # Pixel-averaged profiles: a 500 km/s [O III] (8 Å FWHM) on 20 Å pixels still
    # integrates to its EW over a flat (α_ν = -2) continuum of f_λ = 1.
    coarse = np.arange(4000.0, 6000.0, 20.0)
    flat = {"ALPHA_BLUE": -2.0, "BREAK_WAVE": 9000.0, "FWHM_BROAD": 1500.0}
    line = (qso_spectrum(coarse, [0.5], qso_params(FEII_STRENGTH=0.0, **flat))[0]
            - qso_spectrum(coarse, [0.5], bare_continuum(**flat))[0])
    near = np.abs(coarse - 5006.84) < 100.0  # Hβ is 7σ away at 1500 km/s
    assert np.sum(line[near]) * 20.0 == pytest.approx(table_ew("[O III]"), rel=0.01)
