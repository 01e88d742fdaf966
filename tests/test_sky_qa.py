"""Specifications of the sky QA figures in `ojala_core.sky.qa`, on the session's tiny sky."""
import numpy as np
import pandas as pd
import pytest

from ojala_core.sky.qa import TRUTH_COLUMNS, bpt_figure, example_spectra_figure, sky_qa

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QA_FIGURES = ("bpt", "whan", "sfms", "sfh_families", "colour_magnitude", "qso_colours", "stars_teff_logg", "coverage",
              "jpas_snr", "example_spectra")


@pytest.fixture(scope="module")
def qa_files(tiny_sky):
    return sky_qa(tiny_sky)


def test_sky_qa_writes_the_ten_figures_in_order(qa_files):
    assert [p.name for p in qa_files] == [f"{name}.png" for name in QA_FIGURES]


@pytest.mark.parametrize("name", QA_FIGURES)
def test_every_figure_is_a_png_with_content(qa_files, name):
    path = next(p for p in qa_files if p.stem == name)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    # Guards against a blank or truncated file only: an empty labelled frame is already ~15 kB,
    # so the tests below check that the figures hold the data.
    assert len(data) > 10_000


def test_sky_qa_defaults_to_the_qa_folder_and_leaves_no_partial_files(tiny_sky, qa_files):
    assert {p.parent for p in qa_files} == {tiny_sky / "qa"}
    assert not list((tiny_sky / "qa").glob("*.partial"))


@pytest.fixture(scope="module")
def truth(tiny_sky):
    return pd.read_parquet(tiny_sky / "truth.parquet", columns=TRUTH_COLUMNS)


def test_bpt_draws_every_galaxy_with_finite_ratios_once(truth):
    galaxies = truth[truth["SPECTYPE"] == "GALAXY"]
    finite = np.isfinite(galaxies["LOG_NII_HA"]) & np.isfinite(galaxies["LOG_OIII_HB"])
    ax = bpt_figure(galaxies).axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == finite.sum() > 0


def test_example_spectra_show_a_spectrum_in_each_of_the_four_panels(tiny_sky, truth):
    axes = example_spectra_figure(tiny_sky, truth).axes
    assert len(axes) == 4
    for ax in axes:
        desi = [line for line in ax.lines if line.get_label().startswith("DESI")]
        assert desi and all(np.isfinite(line.get_ydata()).any() for line in desi)


def test_coverage_figure_shows_the_populations_the_sky_spans(tiny_sky):
    import pandas as pd

    from ojala_core.sky.qa import coverage_figure

    truth = pd.read_parquet(tiny_sky / "truth.parquet", columns=TRUTH_COLUMNS)
    jpas = pd.DataFrame({"MORPHTYPE": ["PSF", "", "EXP", "REX"]})
    axes = coverage_figure(truth, jpas).axes
    titles = [ax.get_title() for ax in axes]
    low, high = (float(t) for t in titles[1].split(": ")[1].removesuffix(" K").split("–"))
    assert low < 3000 and high > 30000
    assert titles[3].endswith("25.0% of J-PAS rows have none")
    assert {t.get_text().split(" (")[0] for t in axes[0].get_legend().get_texts()} == {"MWS", "FAINT_STAR", "JPAS_STAR"}
