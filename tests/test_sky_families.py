"""Star-formation-history families of the sky's galaxies and the host light of its low-z QSOs,
checked on the spectra the generators make (bagpipes runs here, ~10 s for the module)."""
import numpy as np
import pytest

from ojala_core.sky import generate
from ojala_core.sky.galaxies import SFH_FAMILIES, sample_galaxy_population
from ojala_core.sky.qso import QSO_HOST_MAX_Z


def _dn4000(wave, flambda):
    """Balogh et al. (1999) narrow 4000 Å break: <f_ν> 4000–4100 Å / <f_ν> 3850–3950 Å (rest)."""
    fnu = flambda * wave ** 2
    red = fnu[:, (wave > 4000) & (wave < 4100)].mean(axis=1)
    blue = fnu[:, (wave > 3850) & (wave < 3950)].mean(axis=1)
    return red / blue


@pytest.fixture(scope="module")
def bgs():
    params = sample_galaxy_population(np.random.default_rng(3), 500, "BGS")
    result = generate._galaxy_engine().run(params)
    return params, result


def test_every_family_is_drawn_in_its_share():
    params = sample_galaxy_population(np.random.default_rng(0), 20_000, "BGS")
    family, quenched = params["SFH_FAMILY"], params["QUENCHED"]
    assert set(family) == set(SFH_FAMILIES)
    for name, share in SFH_FAMILIES.items():
        group = quenched if share["quenched"] else ~quenched
        expected = share["quenched"] or share["star_forming"]
        assert abs(np.mean(family[group] == name) - expected) < 0.02, name
    elg = sample_galaxy_population(np.random.default_rng(0), 5_000, "ELG")["SFH_FAMILY"]
    assert abs(np.mean(elg == "YOUNG_BURST") - SFH_FAMILIES["YOUNG_BURST"]["starburst"]) < 0.03


def test_line_dominated_line_free_and_passive_galaxies_look_like_it(bgs):
    params, result = bgs
    family = params["SFH_FAMILY"]
    ew = result.truth["HALPHA_EW"]
    ssfr = result.truth["LOGSFR"] - result.truth["LOGM"]
    dn4000 = _dn4000(result.wavelength_rest, result.spectrum)
    by = {name: family == name for name in SFH_FAMILIES}
    assert min(int(m.sum()) for m in by.values()) >= 4
    # Line-dominated starbursts: EW(Hα) of hundreds of Å, well above the continuous SF galaxies.
    assert np.median(ew[by["YOUNG_BURST"]]) > 200 > np.median(ew[by["CONTINUOUS"]])
    # Faded bursts: no O stars left, so (AGN aside) no lines, yet a young, blue continuum.
    no_agn = params["AGN_TYPE"] == ""
    assert np.median(ew[by["FADED_BURST"] & no_agn]) < 1.0
    assert np.median(dn4000[by["FADED_BURST"]]) < np.median(dn4000[by["QUENCHED"]]) - 0.2
    # Passive: nothing formed for ≥ 1 Gyr, EW(Hα) below WHAN's 3 Å passive cut for most.
    assert np.median(ssfr[by["PASSIVE"]]) < -12.5
    assert np.mean(ew[by["PASSIVE"]] < 3.0) > 0.7
    # Post-starbursts sit between the young and the old in their 4000 Å break.
    assert np.median(dn4000[by["FADED_BURST"]]) < np.median(dn4000[by["POST_STARBURST"]]) < np.median(
        dn4000[by["PASSIVE"]])


def test_qso_hosts_carry_their_drawn_share_of_r_and_the_total_keeps_mag_r():
    rng = np.random.default_rng(5)
    z, flambda, truth, r_eff, point, _ = generate._make_qsos(rng, 300, (17.0, 22.5))
    share = truth["HOST_FRACTION_R"]
    assert (share[z >= QSO_HOST_MAX_Z] == 0).all() and (share[z < QSO_HOST_MAX_Z] > 0).all()
    low = z < 0.6
    assert 0.15 < np.median(share[low]) < 0.5
    extended = ~point
    assert (share[extended] > generate.QSO_EXTENDED_HOST_FRACTION).all()
    # A minority of z < 1 QSOs are host-dominated (the previous sky made 86 % of them so).
    assert 0.03 < extended[z < 1].mean() < 0.45
    # The r magnitudes stay in the drawn range whatever the host adds.
    r = generate._nominal_system().ab_magnitudes(flambda)[:, generate.NOMINAL_BANDS.index("DECam_r")]
    assert 16.99 < r.min() and r.max() < 22.51


def test_families_are_in_the_truth_table(tiny_sky):
    import pandas as pd

    truth = pd.read_parquet(tiny_sky / "truth.parquet", columns=["SPECTYPE", "SFH_FAMILY", "HOST_FRACTION_R"])
    gal = truth[truth["SPECTYPE"] == "GALAXY"]
    assert set(gal["SFH_FAMILY"]) == set(SFH_FAMILIES)
    qsos = truth[truth["SPECTYPE"] == "QSO"]
    assert (qsos["HOST_FRACTION_R"] > 0).any() and qsos["HOST_FRACTION_R"].between(0, 1).all()
