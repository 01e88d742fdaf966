"""Synthetic photometry: the weight matrix against speclite and analytic cases."""
import astropy.units as u
import numpy as np
import pytest
import speclite.filters

from ojala_core.filters import FILTER_SOURCES, jpas_narrow_band_names, load_filter
from ojala_core.photometry import (
    AB_ZEROPOINT,
    C_ANGSTROM_PER_S,
    PhotometricSystem,
    ab_magnitude,
    fnu_from_ab,
    redshift_to_grid,
    resample_flux_conserving,
)

ALL_BANDS = list(FILTER_SOURCES)


@pytest.fixture(scope="module")
def system():
    return PhotometricSystem.from_names(ALL_BANDS)


def test_there_are_54_narrow_bands_from_j0378_to_j0910():
    names = jpas_narrow_band_names()
    assert len(names) == 54
    assert names[0] == "J0378" and names[1] == "J0390" and names[-1] == "J0910"


def test_narrow_band_pivots_are_100_angstrom_apart_and_about_145_wide():
    pivots = [load_filter(b).pivot_wavelength for b in jpas_narrow_band_names()[1:]]
    # The as-built curves are irregular by up to ~20 %, the mean step is 100 Å.
    assert abs(np.mean(np.diff(pivots)) - 100.0) < 2.0
    assert np.all((np.diff(pivots) > 80) & (np.diff(pivots) < 125))
    widths = [load_filter(b).effective_width for b in jpas_narrow_band_names()]
    assert 120 < np.median(widths) < 170


def test_flat_fnu_gives_the_same_ab_magnitude_in_every_band(system):
    mag = 20.0
    fnu = fnu_from_ab(mag)
    flambda = fnu * C_ANGSTROM_PER_S / system.wavelength ** 2
    mags = system.ab_magnitudes(flambda)
    assert np.allclose(mags, mag, atol=2e-4)


def test_fnu_scales_linearly_with_flux(system):
    flambda = 1e-17 * (system.wavelength / 5000.0) ** -1.5
    assert np.allclose(system.fnu(3 * flambda), 3 * system.fnu(flambda))
    assert np.allclose(system.ab_magnitudes(10 * flambda), system.ab_magnitudes(flambda) - 2.5)


def _speclite_magnitudes(curves, wavelength, flambda):
    responses = [speclite.filters.FilterResponse(
        wavelength=c.wavelength * u.AA, response=c.response,
        meta=dict(group_name="test", band_name=c.name.replace("_", ""))) for c in curves]
    table = speclite.filters.FilterSequence(responses).get_ab_magnitudes(
        flambda * u.erg / u.s / u.cm ** 2 / u.AA, wavelength * u.AA)
    return np.array([table[c][0] for c in table.colnames])


def test_magnitudes_agree_with_speclite_to_2_millimag_on_a_spectrum_with_lines(system):
    wavelength = np.arange(2500.0, 62000.0, 0.5)
    teff = 6500.0
    flambda = 1.0 / wavelength ** 5 / np.expm1(1.4388e8 / (wavelength * teff))
    for centre, ew in ((6563.0, 80.0), (5007.0, 40.0), (4861.0, -5.0), (8542.0, -3.0)):
        sigma = 3.0
        flambda *= 1 + ew / (np.sqrt(2 * np.pi) * sigma) * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)
    flambda *= 1e-16 / np.median(flambda)
    ours = system.ab_magnitudes(resample_flux_conserving(wavelength, flambda, system.edges))
    theirs = _speclite_magnitudes(system.filters, wavelength, flambda)
    assert np.max(np.abs(ours - theirs)) <= 0.002


def test_decam_curves_match_speclites_own_decam_filters(system):
    wavelength = np.arange(3000.0, 11000.0, 0.5)
    flambda = 1e-17 * (wavelength / 6000.0) ** -2.0
    ours = system.ab_magnitudes(resample_flux_conserving(wavelength, flambda, system.edges))
    theirs = speclite.filters.load_filters("decamDR1-g", "decamDR1-r", "decamDR1-z").get_ab_magnitudes(
        flambda * u.erg / u.s / u.cm ** 2 / u.AA, wavelength * u.AA)
    for band, col in (("DECam_g", "decamDR1-g"), ("DECam_r", "decamDR1-r"), ("DECam_z", "decamDR1-z")):
        assert abs(ours[ALL_BANDS.index(band)] - theirs[col][0]) <= 0.002


def test_flux_conserving_resampling_keeps_the_integral():
    wavelength = np.linspace(4000.0, 8000.0, 4001)
    flux = 1.0 + np.exp(-0.5 * ((wavelength - 6000.0) / 2.0) ** 2) * 100
    edges = np.linspace(4500.0, 7500.0, 31)
    binned = resample_flux_conserving(wavelength, flux, edges)
    inside = (wavelength >= 4500) & (wavelength <= 7500)
    assert np.isclose(np.sum(binned * np.diff(edges)), np.trapezoid(flux[inside], wavelength[inside]), rtol=1e-3)


def test_redshifting_a_line_moves_it_by_one_plus_z_and_keeps_its_flux():
    rest = np.linspace(3000.0, 9000.0, 60001)
    line_flux = 2.0
    sigma = 2.0
    spectrum = line_flux * np.exp(-0.5 * ((rest - 5000.0) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    z = 0.3
    edges = np.linspace(4000.0, 11000.0, 3501)
    observed = redshift_to_grid(rest, spectrum / (1 + z), z, edges)[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert abs(centres[np.argmax(observed)] - 5000.0 * 1.3) < 2.0
    assert np.isclose(np.sum(observed * np.diff(edges)), line_flux, rtol=1e-3)


def test_ab_magnitude_of_nonpositive_flux_is_missing_not_a_number():
    mags = ab_magnitude(np.array([fnu_from_ab(21.0), 0.0, -1e-30]))
    assert np.isclose(mags[0], 21.0)
    assert np.isnan(mags[1]) and np.isnan(mags[2])
    assert AB_ZEROPOINT == 48.60
