"""Quality-assurance figures of a built synthetic sky: the PNGs a person looks at after `ojala sky`.

Reads the truth table, the J-PAS catalogue and the DESI coadds; not for metrics or pass/fail checks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from matplotlib.figure import Figure

from ..diagnostics import BPT_CLASSES, BPT_CURVES, WHAN_CLASSES, WHAN_CUTS, bpt_curve
from ..filters import jpas_narrow_band_names, load_filter
from ..io.files import atomic_path
from ..io.jpas import band_flagged
from ..io.jpas_layout import CatalogueLayout
from ..lines import EMISSION_LINES
from ..photometry import ab_magnitude, flambda_from_fnu
from ..vocabulary import SPECTYPES
from .build import SKY_FILES
from .desi import DESI_CAMERAS
from .galaxies import AGN_TYPES, SFH_FAMILIES, speagle14_log_sfr
from .jpas_system import APERTURE_PREFIX, JPAS_BANDS

__all__ = ["sky_qa", "MAX_POINTS", "bpt_figure", "whan_figure", "sfms_figure", "sfh_families_figure",
           "colour_magnitude_figure", "qso_colours_figure", "stars_teff_logg_figure",
           "jpas_snr_figure", "example_spectra_figure", "coverage_figure"]

MAX_POINTS = 50_000  # per scatter plot: more only hides structure and slows the PNG

TRUTH_COLUMNS = ["POPULATION", "SPECTYPE", "RA", "DEC", "Z", "LOGM", "LOGSFR", "HALPHA_6562_EW", "LOG_NII_HA",
                 "LOG_OIII_HB", "BPT_CLASS", "WHAN_CLASS", "AGN_TYPE", "TEFF", "LOGG", "FEH", "MAG_SYN_DECam_g",
                 "MAG_SYN_DECam_r", "MAG_SYN_WISE_W1", "TARGETID", "JPAS_NUMBER", "FIBER_FRACTION",
                 "MAG_SYN_iSDSS", "STELLAR_STAGE", "MORPHTYPE", "SFH_FAMILY"]

# Eight narrow bands spread from J0378 to J0910, plus the broad iSDSS detection band.
SNR_BANDS = [jpas_narrow_band_names()[i] for i in np.linspace(0, 53, 8).round().astype(int)] + ["iSDSS"]

SPECTYPE_COLOURS = {"GALAXY": "tab:orange", "STAR": "tab:blue", "QSO": "tab:purple"}
WHAN_COLOURS = {"PASSIVE": "tab:gray", "SF": "tab:blue", "SAGN": "tab:red", "WAGN": "tab:orange", "UNCLASSIFIED": "k"}
CAMERA_COLOURS = {"B": "tab:blue", "R": "tab:red", "Z": "maroon"}
DPI = 110


def sky_qa(sky_dir, out=None, max_points: int = MAX_POINTS, seed: int = 0) -> list[Path]:
    """Write the QA figures of a built sky as PNG files.

    Parameters
    ----------
    sky_dir : path
        Folder written by `ojala_core.sky.build.build_sky`.
    out : path, optional
        Output folder; ``sky_dir/qa`` by default.
    max_points : int
        Largest number of points drawn in one scatter plot (a random subsample above).
    seed : int
        Seed of the subsampling, so reruns give identical figures.

    Returns
    -------
    list of Path
        The PNG files written, in the order bpt, whan, sfms, sfh_families, colour_magnitude,
        qso_colours, stars_teff_logg, coverage, jpas_snr, example_spectra.
    """
    sky_dir = Path(sky_dir)
    out = Path(out) if out is not None else sky_dir / "qa"
    truth = pd.read_parquet(sky_dir / SKY_FILES["truth"][0], columns=TRUTH_COLUMNS)
    jpas_path = sky_dir / SKY_FILES["jpas_catalogue"][0]
    jpas = _jpas_flat(jpas_path, ["NUMBER", "MAG_AUTO_iSDSS", "MORPHTYPE"] + [
        f"{APERTURE_PREFIX}_{b}{e}" for b in JPAS_BANDS for e in ("", "_ERR")])
    galaxies = truth[truth["SPECTYPE"] == "GALAXY"]
    sample = dict(max_points=max_points, seed=seed)
    # Lazy so that only one figure is alive at a time.
    figures = {
        "bpt": lambda: bpt_figure(galaxies, **sample),
        "whan": lambda: whan_figure(galaxies, **sample),
        "sfms": lambda: sfms_figure(galaxies, **sample),
        "sfh_families": lambda: sfh_families_figure(galaxies, **sample),
        "colour_magnitude": lambda: colour_magnitude_figure(truth, **sample),
        "qso_colours": lambda: qso_colours_figure(truth, **sample),
        "stars_teff_logg": lambda: stars_teff_logg_figure(truth[truth["SPECTYPE"] == "STAR"], **sample),
        "coverage": lambda: coverage_figure(truth, jpas),
        "jpas_snr": lambda: jpas_snr_figure(jpas, **sample),
        "example_spectra": lambda: example_spectra_figure(sky_dir, truth, jpas),
    }
    written = []
    for name, make in figures.items():
        path = out / f"{name}.png"
        with atomic_path(path) as tmp:
            make().savefig(tmp, format="png", dpi=DPI)
        written.append(path)
    return written


def bpt_figure(galaxies: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """BPT diagram of the truth line ratios [dex], coloured by the injected AGN type.

    Galaxies without AGN are split at the WHAN passive cut in EW(Hα), since retired
    galaxies are expected in the LINER zone, not on the star-forming sequence.
    """
    ok = galaxies[np.isfinite(galaxies["LOG_NII_HA"]) & np.isfinite(galaxies["LOG_OIII_HB"])]
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    shown = _subsample(ok, max_points, seed)
    passive = shown["HALPHA_6562_EW"] < WHAN_CUTS["ew_passive"]
    groups = {"no AGN": (shown["AGN_TYPE"] == "") & ~passive,
              f"no AGN, EW(Hα) < {WHAN_CUTS['ew_passive']:g} Å": (shown["AGN_TYPE"] == "") & passive,
              **{name: shown["AGN_TYPE"] == name for name in AGN_TYPES}}
    colours = ("tab:blue", "tab:gray", "tab:red", "tab:orange", "tab:green", "tab:purple")
    for (label, sel), colour in zip(groups.items(), colours):
        ax.scatter(shown.loc[sel, "LOG_NII_HA"], shown.loc[sel, "LOG_OIII_HB"], s=4, alpha=0.5, color=colour,
                   label=f"{label} ({sel.sum()})", rasterized=True)
    x = np.linspace(-2.2, 1.0, 400)
    for name, style in zip(BPT_CURVES, ("-", "--", ":")):
        ax.plot(x, bpt_curve(name, x), "k", ls=style, lw=1.2, label=name)
    counts = ok["BPT_CLASS"].value_counts()
    ax.text(0.98, 0.02, "BPT_CLASS (Ke01): " + ", ".join(f"{c} {counts.get(c, 0)}" for c in BPT_CLASSES),
            transform=ax.transAxes, fontsize=8, ha="right")
    ax.set(xlim=(-2.2, 1.0), ylim=(-1.6, 1.6), xlabel=r"log([N II] 6584 / H$\alpha$) [dex]",
           ylabel=r"log([O III] 5007 / H$\beta$) [dex]",
           title=f"BPT diagram of the truth ({len(ok)} galaxies), coloured by injected AGN type")
    ax.legend(loc="lower left", fontsize=8, markerscale=3)
    return fig


def whan_figure(galaxies: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """WHAN diagram (Cid Fernandes et al. 2011): log EW(Hα) [Å] vs log [NII]/Hα [dex]."""
    ok = galaxies[np.isfinite(galaxies["LOG_NII_HA"]) & (galaxies["HALPHA_6562_EW"] > 0)]
    shown = _subsample(ok, max_points, seed)
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    for name in WHAN_CLASSES:
        sel = shown[shown["WHAN_CLASS"] == name]
        if len(sel):
            ax.scatter(sel["LOG_NII_HA"], np.log10(sel["HALPHA_6562_EW"]), s=4, alpha=0.5,
                       color=WHAN_COLOURS[name], label=f"{name} ({len(sel)})", rasterized=True)
    xlim, ylim = (-2.0, 1.0), (-1.0, 3.0)
    passive, strong, x_sf = (np.log10(WHAN_CUTS["ew_passive"]), np.log10(WHAN_CUTS["ew_strong_agn"]),
                             WHAN_CUTS["x_sf"])
    ax.hlines(passive, *xlim, colors="k", lw=1.2)
    ax.vlines(x_sf, passive, ylim[1], colors="k", lw=1.2)
    ax.hlines(strong, x_sf, xlim[1], colors="k", lw=1.2, linestyles="--")
    for text, x, y in (("SF", -1.9, 2.7), ("sAGN", 0.6, 2.7), ("wAGN", 0.6, 0.5 * (passive + strong)),
                       ("passive / retired", -1.9, -0.8)):
        ax.text(x, y, text, fontsize=10, weight="bold", va="center")
    ax.set(xlim=xlim, ylim=ylim, xlabel=r"log([N II] 6584 / H$\alpha$) [dex]",
           ylabel=r"log EW(H$\alpha$) [Å] (rest frame, emission > 0)",
           title=f"WHAN diagram of the truth ({len(ok)} galaxies with EW > 0)")
    ax.legend(loc="lower right", fontsize=8, markerscale=3, title="WHAN_CLASS")
    return fig


def sfms_figure(galaxies: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """log SFR [Msun/yr] vs log M* [Msun] coloured by redshift, with Speagle et al. (2014)."""
    ok = galaxies[np.isfinite(galaxies["LOGM"]) & np.isfinite(galaxies["LOGSFR"])]
    shown = _subsample(ok, max_points, seed)
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.add_subplot()
    zmax = float(np.nanpercentile(ok["Z"], 99)) if len(ok) else 1.0
    points = ax.scatter(shown["LOGM"], shown["LOGSFR"], c=shown["Z"], s=4, alpha=0.6, cmap="viridis",
                        vmin=0.0, vmax=zmax, rasterized=True)
    cmap, norm = points.get_cmap(), points.norm
    mass = np.linspace(8.0, 12.2, 50)
    for z in (0.1, 0.5, 1.0, 1.5):
        ax.plot(mass, speagle14_log_sfr(mass, z), color=cmap(norm(z)), lw=2.0,
                label=f"Speagle+14, z = {z}")
    fig.colorbar(points, ax=ax, label="redshift z")
    ax.set(xlabel=r"log M$_*$ [dex M$_\odot$]", ylabel=r"log SFR [dex M$_\odot$ yr$^{-1}$]",
           title=f"Star-forming main sequence of the truth ({len(ok)} galaxies)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


FAMILY_COLOURS = dict(zip(SFH_FAMILIES, ("tab:blue", "tab:cyan", "tab:green", "tab:red", "tab:gray", "tab:purple")))


def sfh_families_figure(galaxies: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """Rest EW(Hα) [Å] vs synthetic g−r of the galaxies, and their sSFR, by star-formation-history family."""
    shown = _subsample(galaxies, max_points, seed)
    fig = Figure(figsize=(12, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    ssfr = galaxies["LOGSFR"] - galaxies["LOGM"]
    bins = np.linspace(-15.0, -7.0, 65)
    for name, colour in FAMILY_COLOURS.items():
        sel = shown[shown["SFH_FAMILY"] == name]
        n_all = int((galaxies["SFH_FAMILY"] == name).sum())
        left.scatter(sel["MAG_SYN_DECam_g"] - sel["MAG_SYN_DECam_r"], np.clip(sel["HALPHA_6562_EW"], 0.05, None),
                     s=4, alpha=0.5, color=colour, label=f"{name} ({n_all})", rasterized=True)
        right.hist(np.clip(ssfr[galaxies["SFH_FAMILY"] == name], bins[0], bins[-1]), bins=bins, histtype="step",
                   color=colour, lw=1.5, label=name)
    left.axhline(WHAN_CUTS["ew_passive"], color="k", ls=":", lw=1)
    left.set(yscale="log", xlabel="g − r (DECam, observed, synthetic) [AB mag]", ylabel="rest EW(Hα) [Å] (≥ 0.05)",
             title="Emission against colour")
    left.legend(fontsize=8, markerscale=3)
    right.set(yscale="log", xlabel=r"log sSFR (100 Myr) [yr$^{-1}$]", ylabel="galaxies",
              title="Specific SFR by family")
    fig.suptitle(f"Star-formation-history families of the truth ({len(galaxies)} galaxies)")
    return fig


def colour_magnitude_figure(truth: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """Noiseless synthetic g−r vs r (DECam, AB) of every object, by SPECTYPE."""
    shown = _subsample(truth, max_points, seed)
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    for spectype in SPECTYPES:
        sel = shown[shown["SPECTYPE"] == spectype]
        ax.scatter(sel["MAG_SYN_DECam_r"], sel["MAG_SYN_DECam_g"] - sel["MAG_SYN_DECam_r"], s=4, alpha=0.5,
                   color=SPECTYPE_COLOURS[spectype], label=f"{spectype} ({len(sel)})", rasterized=True)
    ax.set(xlabel="r (DECam, synthetic total) [AB mag]", ylabel="g − r [AB mag]",
           title="Colour–magnitude diagram of the truth")
    ax.legend(fontsize=8, markerscale=3)
    return fig


def qso_colours_figure(truth: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """QSO g−r and r−W1 vs redshift, with the 5–95 % range of the stars for contrast."""
    qso = _subsample(truth[truth["SPECTYPE"] == "QSO"], max_points, seed)
    stars = truth[truth["SPECTYPE"] == "STAR"]
    fig = Figure(figsize=(8, 7), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (blue, red, label) in zip(axes, (("MAG_SYN_DECam_g", "MAG_SYN_DECam_r", "g − r"),
                                             ("MAG_SYN_DECam_r", "MAG_SYN_WISE_W1", "r − W1"))):
        colour = qso[blue] - qso[red]
        ax.scatter(qso["Z"], colour, s=5, alpha=0.6, color=SPECTYPE_COLOURS["QSO"],
                   label=f"QSO ({len(qso)})", rasterized=True)
        _running_median(ax, qso["Z"].to_numpy(), colour.to_numpy(), color="k", label="QSO running median")
        if len(stars):
            lo, hi = np.nanpercentile(stars[blue] - stars[red], [5, 95])
            ax.axhspan(lo, hi, color=SPECTYPE_COLOURS["STAR"], alpha=0.15, label="stars, 5–95 %")
        ax.set(ylabel=f"{label} [AB mag]")
        ax.legend(fontsize=8, loc="best")
    axes[0].set_title("QSO colours of the truth vs redshift (noiseless synthetic DECam / WISE)")
    axes[1].set(xlabel="redshift z")
    return fig


def stars_teff_logg_figure(stars: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """Kiel diagram (Teff [K] vs log g [dex], both axes inverted) coloured by [Fe/H] [dex]."""
    ok = _subsample(stars[np.isfinite(stars["TEFF"]) & np.isfinite(stars["LOGG"])], max_points, seed)
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    points = ax.scatter(ok["TEFF"], ok["LOGG"], c=ok["FEH"], s=8, alpha=0.8, cmap="plasma", rasterized=True)
    fig.colorbar(points, ax=ax, label="[Fe/H] [dex]")
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.set(xlabel=r"T$_\mathrm{eff}$ [K]", ylabel=r"log g [dex cm s$^{-2}$]",
           title=f"Kiel diagram of the truth stars ({len(ok)})")
    return fig


def coverage_figure(truth: pd.DataFrame, jpas: pd.DataFrame) -> Figure:
    """What the sky spans: star i magnitudes by population, star Teff by evolutionary stage,
    galaxy and QSO redshifts (log axis: the low-z end), and Legacy MORPHTYPE by class
    (including J-PAS rows with none)."""
    fig = Figure(figsize=(13, 9), layout="constrained")
    (mag_ax, teff_ax), (z_ax, morph_ax) = fig.subplots(2, 2)
    stars = truth[truth["SPECTYPE"] == "STAR"]
    bins = np.arange(13.0, 24.01, 0.5)
    for name, group in stars.groupby("POPULATION"):
        mag_ax.hist(group["MAG_SYN_iSDSS"], bins, histtype="step", lw=1.5, label=f"{name} ({len(group)})")
    mag_ax.set(xlabel="i [AB]", ylabel="stars", title="Stars by i magnitude (DESI-labelled: MWS, FAINT_STAR)")
    mag_ax.legend(fontsize=8)
    teff_bins = np.geomspace(2500.0, 45000.0, 40)
    for stage, group in stars.groupby("STELLAR_STAGE"):
        teff_ax.hist(group["TEFF"], teff_bins, histtype="step", lw=1.5, label=f"{stage} ({len(group)})")
    teff_ax.set(xscale="log", yscale="log", xlabel=r"T$_\mathrm{eff}$ [K]", ylabel="stars",
                title=f"Stars by Teff: {stars['TEFF'].min():.0f}–{stars['TEFF'].max():.0f} K")
    teff_ax.legend(fontsize=8)
    z_bins = np.geomspace(0.003, 5.0, 50)
    for kind in ("GALAXY", "QSO"):
        z = truth.loc[truth["SPECTYPE"] == kind, "Z"]
        z_ax.hist(z, z_bins, histtype="step", lw=1.5, color=SPECTYPE_COLOURS[kind],
                  label=f"{kind}: {np.mean(z < 0.1):.1%} at z < 0.1, {np.mean(z < 1.0):.1%} at z < 1")
    z_ax.set(xscale="log", xlabel="z", ylabel="objects", title="Redshifts (log axis)")
    z_ax.legend(fontsize=8)
    types = ["PSF", "REX", "EXP", "DEV", "SER", "none"]
    for offset, kind in enumerate(SPECTYPE_COLOURS):
        counts = truth.loc[truth["SPECTYPE"] == kind, "MORPHTYPE"].value_counts(normalize=True)
        morph_ax.bar(np.arange(len(types)) + 0.25 * (offset - 1), [counts.get(t, 0.0) for t in types], 0.25,
                     color=SPECTYPE_COLOURS[kind], label=kind)
    missing = np.mean(jpas["MORPHTYPE"].astype(str).str.strip() == "") if len(jpas) else np.nan
    morph_ax.set(xticks=range(len(types)), xticklabels=types, ylabel="fraction of the class",
                 title=f"Legacy MORPHTYPE by true class; {missing:.1%} of J-PAS rows have none")
    morph_ax.legend(fontsize=8)
    return fig


def jpas_snr_figure(jpas: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> Figure:
    """J-PAS aperture S/N vs MAG_AUTO_iSDSS [AB] in `SNR_BANDS`, with the median 5σ depth per band.

    The depth is the median AB magnitude of five times the flux error of objects with
    S/N < 10, whose errors are sky-limited (brighter ones add their own photon noise).
    """
    shown = _subsample(jpas, max_points, seed)
    point_source = shown["MORPHTYPE"] == "PSF"
    fig = Figure(figsize=(12, 10), layout="constrained")
    axes = fig.subplots(3, 3, sharex=True, sharey=True).ravel()
    for ax, band in zip(axes, SNR_BANDS):
        flux, err = (jpas[f"{APERTURE_PREFIX}_{band}{e}"].to_numpy(float) for e in ("", "_ERR"))
        faint = (err > 0) & (flux / err < 10.0)
        to_fnu = 1.0 / flambda_from_fnu(1.0, load_filter(band).pivot_wavelength)
        depth = np.nanmedian(ab_magnitude(5.0 * err[faint] * to_fnu)) if faint.any() else np.nan
        snr = shown[f"{APERTURE_PREFIX}_{band}"] / shown[f"{APERTURE_PREFIX}_{band}_ERR"]
        snr = snr.where(snr > 0)
        for sel, colour, label in ((point_source, "tab:purple", "PSF"), (~point_source, "tab:green", "extended")):
            ax.scatter(shown.loc[sel, "MAG_AUTO_iSDSS"], snr[sel], s=3, alpha=0.4, color=colour,
                       label=f"MORPHTYPE {label}", rasterized=True)
        ax.axhline(5.0, color="tab:red", lw=1.2, label="S/N = 5")
        ax.set_yscale("log")
        ax.set_title(f"{band}: median 5σ depth {depth:.2f} AB", fontsize=10)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, markerscale=3, loc="lower left")
    fig.supxlabel("MAG_AUTO_iSDSS [AB mag]")
    fig.supylabel(f"S/N of {APERTURE_PREFIX} flux (3\" aperture, point-source corrected)")
    fig.suptitle(f"J-PAS catalogue S/N ({len(jpas)} objects; negative fluxes not shown)")
    return fig


def example_spectra_figure(sky_dir, truth: pd.DataFrame, jpas: pd.DataFrame | None = None) -> Figure:
    """DESI coadd spectra of four objects in DESI and J-PAS with their J-PAS photometry overlaid.

    Truth rows are joined to coadd rows on TARGETID and the join is accepted only where
    the FIBERMAP position agrees with the truth position to 1"; the title reports how
    many joins pass. J-PAS fluxes (total light) are scaled by median(spectrum) /
    median(J-PAS) over the narrow bands, since a DESI fibre holds only part of the light.
    `jpas` is the catalogue as `_jpas_flat` reads it (read here when not given).
    """
    sky_dir = Path(sky_dir)
    if jpas is None:
        jpas = _jpas_flat(sky_dir / SKY_FILES["jpas_catalogue"][0])
    both = truth[(truth["TARGETID"] >= 0) & (truth["JPAS_NUMBER"] >= 0)]
    joined = both.merge(_fibermap_index(_coadd_paths(sky_dir)), on="TARGETID", how="inner")
    separation = 3600.0 * np.hypot((joined["TARGET_RA"] - joined["RA"]) * np.cos(np.radians(joined["DEC"])),
                                   joined["TARGET_DEC"] - joined["DEC"])
    confirmed = joined[separation < 1.0]
    kinds = {
        "star-forming galaxy": (confirmed["SPECTYPE"] == "GALAXY") & (confirmed["WHAN_CLASS"] == "SF"),
        "passive galaxy": (confirmed["SPECTYPE"] == "GALAXY") & (confirmed["WHAN_CLASS"] == "PASSIVE"),
        "QSO": confirmed["SPECTYPE"] == "QSO",
        "star": confirmed["SPECTYPE"] == "STAR",
    }
    fig = Figure(figsize=(14, 9), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, (kind, selected) in zip(axes, kinds.items()):
        candidates = confirmed[selected]
        if candidates.empty:
            ax.text(0.5, 0.5, f"no {kind} in both DESI and J-PAS", ha="center", transform=ax.transAxes)
            continue
        # The brightest example, so the comparison of shapes is not lost in noise.
        obj = candidates.loc[candidates["MAG_SYN_DECam_r"].idxmin()]
        spectrum = _read_coadd_spectrum(obj["COADD_PATH"], int(obj["COADD_ROW"]))
        photometry = _read_jpas_photometry(jpas, int(obj["JPAS_NUMBER"]))
        _plot_spectrum_and_photometry(ax, spectrum, photometry, obj)
        ax.set_title(f"{kind}: {obj['POPULATION']} TARGETID {int(obj['TARGETID'])}, z = {obj['Z']:.3f}, "
                     f"r = {obj['MAG_SYN_DECam_r']:.2f}", fontsize=10)
    fig.supxlabel("observed wavelength [Å]")
    fig.supylabel(r"f$_\lambda$ [10$^{-17}$ erg s$^{-1}$ cm$^{-2}$ Å$^{-1}$]")
    fig.suptitle("DESI coadd spectra (fibre flux) with J-PAS photometry scaled to the fibre\n"
                 f"truth–coadd TARGETID join confirmed by position for {confirmed['TARGETID'].nunique()} "
                 f"of {len(both)} DESI × J-PAS objects")
    return fig


def _plot_spectrum_and_photometry(ax, spectrum, photometry, obj):
    for cam, (wave, flux) in spectrum.items():
        ax.plot(wave, flux, color=CAMERA_COLOURS[cam], lw=0.5, alpha=0.8, label=f"DESI {cam} (fibre)")
    pivots, flux, err = photometry
    narrow = np.array([b != "iSDSS" for b in JPAS_BANDS])
    spec_wave = np.concatenate([w for w, _ in spectrum.values()])
    spec_flux = np.concatenate([f for _, f in spectrum.values()])
    # Spectrum level at each band: median of the pixels within ±40 Å of the pivot (~ half a narrow band).
    windows = np.abs(spec_wave[None, :] - pivots[:, None]) < 40.0
    at_band = np.array([np.nanmedian(spec_flux[w]) if np.isfinite(spec_flux[w]).any() else np.nan for w in windows])
    common = narrow & np.isfinite(at_band) & np.isfinite(flux)
    scale = np.median(at_band[common]) / np.median(flux[common]) if common.any() else 1.0
    ax.errorbar(pivots[narrow], scale * flux[narrow], scale * err[narrow], fmt="o", ms=3.5, color="k", zorder=5,
                label=f"J-PAS {APERTURE_PREFIX} × {scale:.2f} to the fibre (truth fibre/total "
                      f"{obj['FIBER_FRACTION']:.2f})")
    ax.errorbar(pivots[~narrow], scale * flux[~narrow], scale * err[~narrow], fmt="s", ms=6, mfc="none",
                color="k", zorder=5, label="J-PAS iSDSS (same scale)")
    if obj["SPECTYPE"] == "GALAXY":
        lines = [line.wavelength * (1.0 + obj["Z"]) for line in EMISSION_LINES.values()]
        ax.vlines([w for w in lines if w < spec_wave.max()], 0, 1, transform=ax.get_xaxis_transform(),
                  colors="tab:green", lw=0.8, ls=":", label="emission lines at z")
    finite = spec_flux[np.isfinite(spec_flux)]
    if finite.size:
        lo, hi = np.percentile(finite, [0.5, 99.5])
        pad = 0.15 * (hi - lo)
        ax.set_ylim(lo - pad, max(hi, np.nanmax(scale * flux, initial=hi)) + pad)
    ax.set_xlim(3500.0, 9900.0)
    ax.legend(fontsize=7, loc="best")


def _coadd_paths(sky_dir: Path) -> list[Path]:
    manifest = json.loads((sky_dir / "manifest.json").read_text())
    return [sky_dir / f["path"] for f in manifest["files"] if f["key"] == "desi_coadd"]


def _fibermap_index(coadds) -> pd.DataFrame:
    """TARGETID, TARGET_RA, TARGET_DEC [deg], COADD_PATH and COADD_ROW of every coadd spectrum."""
    frames = []
    for path in coadds:
        with fits.open(path, memmap=True) as hdul:
            fibermap = hdul["FIBERMAP"].data
            frames.append(pd.DataFrame({
                "TARGETID": np.array(fibermap["TARGETID"], dtype=np.int64),
                "TARGET_RA": np.array(fibermap["TARGET_RA"], dtype=float),
                "TARGET_DEC": np.array(fibermap["TARGET_DEC"], dtype=float),
                "COADD_PATH": str(path), "COADD_ROW": np.arange(len(fibermap))}))
    if not frames:
        return pd.DataFrame(columns=["TARGETID", "TARGET_RA", "TARGET_DEC", "COADD_PATH", "COADD_ROW"])
    return pd.concat(frames, ignore_index=True)


def _read_coadd_spectrum(path, row: int) -> dict:
    """camera -> (wavelength [Å], f_λ [1e-17 erg/s/cm²/Å], NaN where masked) of one coadd row."""
    out = {}
    with fits.open(path, memmap=True) as hdul:
        for cam in DESI_CAMERAS:
            flux = np.array(hdul[f"{cam}_FLUX"].data[row], dtype=float)
            bad = (np.asarray(hdul[f"{cam}_IVAR"].data[row]) <= 0) | (np.asarray(hdul[f"{cam}_MASK"].data[row]) != 0)
            flux[bad] = np.nan
            out[cam] = (np.array(hdul[f"{cam}_WAVELENGTH"].data, dtype=float), flux)
    return out


def _jpas_flat(path: Path, columns=None) -> pd.DataFrame:
    """The J-PAS catalogue (any layout the readers know) as flat f_λ columns [erg s⁻¹ cm⁻² Å⁻¹] with
    absolute errors, flagged bands NaN; magnitudes of 99 ('no measurement') NaN; `columns` only."""
    layout = CatalogueLayout(path, APERTURE_PREFIX)
    frames = []
    for _, frame in layout.iter_chunks(200_000):
        for band in JPAS_BANDS:
            bad = band_flagged(frame, band)
            for suffix in ("", "_ERR"):
                frame.loc[bad, f"{APERTURE_PREFIX}_{band}{suffix}"] = np.nan
        frames.append(frame if columns is None else frame[columns])
    frame = pd.concat(frames, ignore_index=True)
    magnitudes = [c for c in frame.columns if c.startswith("MAG_")]
    frame[magnitudes] = frame[magnitudes].mask(frame[magnitudes] >= 99.0)
    return frame


def _read_jpas_photometry(jpas: pd.DataFrame, number: int):
    """Pivot wavelengths [Å], f_λ and error [1e-17 erg/s/cm²/Å] in `JPAS_BANDS` of one NUMBER (flagged: NaN)."""
    row = jpas[jpas["NUMBER"].astype(np.int64) == number].iloc[0]
    flux = np.array([row[f"{APERTURE_PREFIX}_{b}"] for b in JPAS_BANDS], dtype=float)
    err = np.array([row[f"{APERTURE_PREFIX}_{b}_ERR"] for b in JPAS_BANDS], dtype=float)
    pivots = np.array([load_filter(b).pivot_wavelength for b in JPAS_BANDS])
    return pivots, 1e17 * flux, 1e17 * err


def _subsample(frame: pd.DataFrame, max_points: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= max_points else frame.sample(n=max_points, random_state=seed)


def _running_median(ax, x, y, bins: int = 15, **kwargs):
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 * bins:
        return
    edges = np.quantile(x[ok], np.linspace(0.0, 1.0, bins + 1))
    index = np.clip(np.digitize(x[ok], edges) - 1, 0, bins - 1)
    centres = [np.median(x[ok][index == k]) for k in range(bins)]
    medians = [np.median(y[ok][index == k]) for k in range(bins)]
    ax.plot(centres, medians, lw=1.5, **kwargs)
