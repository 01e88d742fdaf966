"""The report's figures (matplotlib, PNG): the paper's Figs. 3–10 for one sample, OJALA with the baselines.

Each function draws one figure from the truth, the predictions and the sample's metrics and
returns nothing; `draw_sample_figures` writes them all and returns their file names. Not for
computing metrics.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..diagnostics import BPT_CURVES, WHAN_CUTS, bpt_curve  # noqa: E402
from ..scoring import EW_FLOOR_ANGSTROM  # noqa: E402
from ..vocabulary import DEFAULT_VOCABULARY  # noqa: E402

__all__ = ["draw_sample_figures", "FIGURES"]

_COLOURS = {"ojala": "C0", "hgb": "C1", "lephare": "C2"}
_LABELS = {"ojala": "OJALA", "hgb": "HGB", "lephare": "LePHARE"}


def _scatter(ax, true, pred, title, unit="", redshift=False):
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    ok = np.isfinite(true) & np.isfinite(pred)
    ax.scatter(true[ok], pred[ok], s=3, alpha=0.4, color=_COLOURS["ojala"], rasterized=True)
    if ok.any():
        lo, hi = np.percentile(np.r_[true[ok], pred[ok]], [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        r = (pred[ok] - true[ok]) / (1 + true[ok]) if redshift else pred[ok] - true[ok]
        ax.text(0.03, 0.97, f"n={ok.sum()}\nbias={np.median(r):+.3f}\n"
                f"σ_NMAD={1.48 * np.median(np.abs(r - np.median(r))):.3f}",
                transform=ax.transAxes, va="top", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"true {unit}".strip(), fontsize=8)
    ax.set_ylabel(f"predicted {unit}".strip(), fontsize=8)


def _curve(ax, records, key, x="mag", label="", colour=None, style="-"):
    xs = [r[x] for r in records]
    ys = [r.get(key) for r in records]
    ys = [np.nan if v is None else v for v in ys]
    if xs:
        ax.plot(xs, ys, style, color=colour, label=label, marker=".", ms=3)


def fig_classification(path, m):
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    full = m["ojala"]["classification"]["full"]
    for ax, cls in zip(axes[:3], full["classes"]):
        for metric, style in (("purity", "--"), ("completeness", ":"), ("f1", "-")):
            _curve(ax, full["vs_mag"], f"{cls}_{metric}", label=f"OJALA {metric}", colour="C0", style=style)
            if m.get("hgb"):
                _curve(ax, m["hgb"]["classification"]["full"]["vs_mag"], f"{cls}_{metric}", label=f"HGB {metric}",
                       colour="C1", style=style)
        ax.set_title(cls, fontsize=9)
        ax.set_xlabel("i [AB]")
        ax.set_ylim(0, 1.02)
    for k, (context, scores) in enumerate(m["ojala"]["classification"].items()):
        _curve(axes[3], scores["vs_mag"], "weighted_f1", label=context, colour=f"C{k}")
    axes[3].set_title("weighted F1 by input context (OJALA)", fontsize=9)
    axes[3].set_xlabel("i [AB]")
    axes[3].set_ylim(0, 1.02)
    for ax in axes:
        ax.legend(fontsize=6)
    _save(fig, path)


def fig_photoz(path, m, truth, preds):
    fig, axes = plt.subplots(2, 5, figsize=(19, 7))
    for row, (kind, column) in enumerate((("galaxy", "Z_GAL"), ("qso", "Z_QSO"))):
        mask = truth["SPECTYPE"].to_numpy() == kind.upper()
        _scatter(axes[row, 0], truth[column][mask], preds["ojala"][column][mask], f"{kind} photo-z (OJALA)",
                 "z", redshift=True)
        for col, (key, x) in enumerate((("bias", "mag"), ("sigma_nmad", "mag"), ("outlier_fraction", "mag"),
                                        ("sigma_nmad", "z")), start=1):
            ax = axes[row, col]
            for name in ("ojala", "hgb"):
                if m.get(name):
                    _curve(ax, m[name]["photoz"][kind][f"vs_{x}"], key, x=x, label=_LABELS[name],
                           colour=_COLOURS[name])
            ax.set_title(f"{kind}: {key} vs {'i' if x == 'mag' else 'z'}", fontsize=9)
            ax.set_xlabel("i [AB]" if x == "mag" else "z")
            ax.legend(fontsize=6)
    _save(fig, path)


def fig_stars(path, truth, preds):
    stellar = DEFAULT_VOCABULARY.targets_for("STAR")
    fig, axes = plt.subplots(1, len(stellar), figsize=(4 * len(stellar), 3.8))
    star = truth["SPECTYPE"].to_numpy() == "STAR"
    for ax, name in zip(axes, stellar):
        unit = DEFAULT_VOCABULARY[name].unit
        _scatter(ax, truth[name][star], preds["ojala"][name][star], name, f"[{unit}]" if unit else "")
    _save(fig, path)


def _log_ew(values):
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.clip(values, EW_FLOOR_ANGSTROM, None))


def fig_lines(path, truth, preds, masked):
    tokens = list(DEFAULT_VOCABULARY.line_ew_tokens.values())
    columns = max(len(tokens), 2)
    fig, axes = plt.subplots(3, columns, figsize=(4 * columns, 11), squeeze=False)
    gal = truth["SPECTYPE"].to_numpy() == "GALAXY"
    for k, token in enumerate(tokens):
        true = truth[token].to_numpy(float)
        ok = gal & (true > 0)
        _scatter(axes[0, k], np.log10(true[ok]), _log_ew(preds["ojala"][token][ok]), f"log EW {token}", "[dex]")
        if masked is not None:
            _scatter(axes[1, k], np.log10(true[ok]), _log_ew(masked[token][ok]), f"{token}, line bands hidden",
                     "[dex]")
    for k, ratio in enumerate(("LOG_NII_HA", "LOG_OIII_HB")):
        _scatter(axes[2, k], truth[ratio][gal], preds["ojala"][ratio][gal], ratio, "[dex]")
    for ax in list(axes[2, 2:]) + ([] if masked is not None else list(axes[1])):
        ax.axis("off")
    _save(fig, path)


def _bpt_panel(ax, x, y, title):
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=3, alpha=0.4, rasterized=True)
    grid = np.linspace(-2.0, 1.0, 300)
    for name, style in zip(BPT_CURVES, ("-", "--", ":")):
        ax.plot(grid, bpt_curve(name, grid), "k" + style, lw=1, label=name)
    ax.set_xlim(-2.0, 1.0)
    ax.set_ylim(-1.5, 1.5)
    ax.set_xlabel("log [NII]/Hα")
    ax.set_ylabel("log [OIII]/Hβ")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)


def _whan_panel(ax, x, ew, title):
    ok = np.isfinite(x) & np.isfinite(ew) & (ew > 0)
    ax.scatter(x[ok], np.log10(ew[ok]), s=3, alpha=0.4, rasterized=True)
    ax.axvline(WHAN_CUTS["x_sf"], color="k", lw=1)
    ax.axhline(np.log10(WHAN_CUTS["ew_passive"]), color="k", lw=1, ls="--")
    ax.axhline(np.log10(WHAN_CUTS["ew_strong_agn"]), color="k", lw=1, ls=":")
    ax.set_xlim(-2.0, 1.0)
    ax.set_ylim(-1.0, 2.6)
    ax.set_xlabel("log [NII]/Hα")
    ax.set_ylabel("log EW(Hα) [Å]")
    ax.set_title(title, fontsize=9)


def fig_bpt_whan(path, truth, preds, sel):
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    g = sel.galaxy & sel.bright
    for k, (source, frame) in enumerate((("DESI (true)", truth), ("OJALA", preds["ojala"]))):
        _bpt_panel(axes[k], frame["LOG_NII_HA"].to_numpy(float)[g], frame["LOG_OIII_HB"].to_numpy(float)[g],
                   f"BPT, {source}")
        _whan_panel(axes[2 + k], frame["LOG_NII_HA"].to_numpy(float)[g], frame["HALPHA_6562_EW"].to_numpy(float)[g],
                    f"WHAN, {source}")
    _save(fig, path)


def fig_halpha(path, truth, preds, sel):
    fig, ax = plt.subplots(1, 1, figsize=(4.5, 4))
    g = sel.galaxy & sel.bright
    _scatter(ax, truth["LOG_L_HALPHA"][g], preds["ojala"]["LOG_L_HALPHA"][g], "dust-corrected L(Hα)",
             "log L [erg/s]")
    _save(fig, path)


def fig_mass_sfr(path, truth, preds, sel):
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    g = sel.galaxy & sel.bright
    _scatter(axes[0], truth["LOGM"][g], preds["ojala"]["LOGM"][g], "stellar mass", "log M* [Msun]")
    sf = sel.star_forming
    _scatter(axes[1], truth["LOGSFR"][sf], preds["ojala"]["LOGSFR"][sf], "SFR (SF, σ_pred < 0.5)",
             "log SFR [Msun/yr]")
    _save(fig, path)


def fig_bh_mass(path, table, preds, sel):
    fig, ax = plt.subplots(1, 1, figsize=(4.5, 4))
    _scatter(ax, table["LOG_MBH"][sel.qso], preds["ojala"]["LOG_MBH"][sel.qso], "BH mass (fine-tuned head)",
             "log M_BH [Msun]")
    _save(fig, path)


def fig_calibration(path, calibration: dict):
    """PIT histogram per regression target (flat = right σ) and the SPECTYPE reliability diagram."""
    entries = {k: v for k, v in calibration["regression"].items() if v.get("pit_histogram")}
    n = len(entries) + 1
    cols = min(n, 5)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    edges = np.linspace(0, 1, len(next(iter(entries.values()))["pit_histogram"]) + 1) if entries else None
    for ax, (name, entry) in zip(axes.flat, entries.items()):
        if "raw" in entry and entry["raw"].get("pit_histogram"):
            ax.stairs(entry["raw"]["pit_histogram"], edges, color="0.6", label="raw")
        ax.stairs(entry["pit_histogram"], edges, color="C0", lw=1.5, label="calibrated" if "raw" in entry else "")
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_title(f"{name}: ±1σ {entry['within_1sigma']:.2f}, ±2σ {entry['within_2sigma']:.2f}", fontsize=8)
        ax.set_xlabel("PIT", fontsize=7)
        if "raw" in entry:
            ax.legend(fontsize=6)
    ax = list(axes.flat)[len(entries)]
    rel = calibration["classification"].get("SPECTYPE")
    if rel and rel["bins"]:
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        if "raw" in rel:
            ax.plot([b["confidence"] for b in rel["raw"]["bins"]], [b["accuracy"] for b in rel["raw"]["bins"]],
                    "o-", color="0.6", ms=3, label=f"raw ECE {rel['raw']['ece']:.3f}")
        ax.plot([b["confidence"] for b in rel["bins"]], [b["accuracy"] for b in rel["bins"]], "o-", color="C0", ms=3,
                label=f"ECE {rel['ece']:.3f}")
        ax.set_xlabel("P(top class)", fontsize=7)
        ax.set_ylabel("fraction right", fontsize=7)
        ax.set_title("SPECTYPE reliability", fontsize=8)
        ax.legend(fontsize=6)
    for extra in list(axes.flat)[n:]:
        extra.axis("off")
    _save(fig, path)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# name -> (paper figure, caption)
FIGURES = {
    "classification": ("Fig. 3", "purity, completeness and F1 vs i (full context), weighted F1 vs i per context"),
    "photoz": ("Fig. 4", "photo-z of galaxies and QSOs: predicted vs true, bias, σ_NMAD, η vs i and vs z"),
    "stars": ("Fig. 5", "stellar parameters, predicted vs true"),
    "lines": ("Fig. 6 / Table 1", "log EW (full context; the line's bands hidden) and line ratios"),
    "bpt_whan": ("Fig. 7", "BPT and WHAN diagrams, DESI vs OJALA (galaxies, i < limit)"),
    "halpha": ("Fig. 8", "dust-corrected L(Hα)"),
    "mass_sfr": ("Fig. 9", "stellar mass and SFR"),
    "bh_mass": ("Fig. 10", "black-hole mass from the fine-tuned head"),
    "calibration": ("Errors", "PIT histograms (flat when the 1σ errors are right) and the class reliability diagram"),
}


def draw_sample_figures(folder, sample: str, table, truth, preds: dict, masked, metrics: dict, sel) -> dict:
    """Write every figure of `sample` into `folder`; returns {figure name: file name}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: f"{name}_{sample}.png" for name in FIGURES}
    fig_classification(folder / files["classification"], metrics)
    fig_photoz(folder / files["photoz"], metrics, truth, preds)
    fig_stars(folder / files["stars"], truth, preds)
    fig_lines(folder / files["lines"], truth, preds, masked)
    fig_bpt_whan(folder / files["bpt_whan"], truth, preds, sel)
    fig_halpha(folder / files["halpha"], truth, preds, sel)
    fig_mass_sfr(folder / files["mass_sfr"], truth, preds, sel)
    fig_calibration(folder / files["calibration"], metrics["ojala"]["calibration"])
    if "LOG_MBH" in preds["ojala"] and "LOG_MBH" in table:
        fig_bh_mass(folder / files["bh_mass"], table, preds, sel)
    else:
        files.pop("bh_mass")
    return files
