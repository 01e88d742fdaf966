"""Derived quantities against hand-computed values."""
import numpy as np
import pytest

from ojala_core.constants import COSMOLOGY, MPC_CM
from ojala_core.derived import balmer_decrement, halpha_attenuation, halpha_luminosity, line_flux, sfr_halpha
from ojala_core.filters import load_filter


def test_line_flux_is_cont_times_ew_times_one_plus_z_times_isdss_flambda():
    mag_i = 20.0
    f_lambda_i = 10 ** (-0.4 * (20.0 + 48.6)) * 2.99792458e18 / load_filter("iSDSS").pivot_wavelength ** 2
    flux, err = line_flux(50.0, 5.0, 0.8, 0.0, 0.25, 0.0, mag_i, 0.0)
    assert flux == pytest.approx(0.8 * 50.0 * 1.25 * f_lambda_i)
    assert err == pytest.approx(0.1 * flux)          # 10 % EW error only


def test_case_b_decrement_means_no_dust():
    ratio, _ = balmer_decrement(2.86e-16, 0.0, 1e-16, 0.0)
    a, _ = halpha_attenuation(ratio, 0.0)
    assert ratio == pytest.approx(2.86) and a == pytest.approx(0.0)


def test_known_reddening_gives_the_calzetti_halpha_attenuation():
    ebv = 0.2
    decrement = 2.86 * 10 ** (0.4 * ebv * (4.60 - 3.33))
    a, _ = halpha_attenuation(decrement, 0.0)
    assert a == pytest.approx(3.33 * ebv, rel=1e-6)
    below_case_b, _ = halpha_attenuation(2.5, 0.0)
    assert below_case_b == 0.0


def test_luminosity_and_sfr_of_a_known_flux():
    z, flux = 0.1, 1e-15
    d_l = COSMOLOGY.luminosity_distance(z).value * MPC_CM
    lum, _ = halpha_luminosity(flux, 0.0, z, a_ha=1.0)
    assert lum == pytest.approx(4 * np.pi * d_l ** 2 * flux * 10 ** 0.4)
    sfr, _ = sfr_halpha(lum, 0.0)
    assert sfr == pytest.approx(7.9e-42 * lum)


def test_missing_or_negative_fluxes_give_missing_decrements():
    ratio, _ = balmer_decrement(np.array([1.0, -1.0, np.nan]), 0.0, np.array([0.5, 0.5, 0.5]), 0.0)
    assert ratio[0] == pytest.approx(2.0) and np.isnan(ratio[1:]).all()
