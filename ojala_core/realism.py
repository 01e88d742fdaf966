"""The realism check: the model on photometry of spectra that the sky does NOT use.

External spectra, all installed offline from PyPI (`make venv`):
- galaxies: the Brown et al. (2014, ApJS 212, 18) atlas of 129 observed nearby galaxies
  (41 passive, 67 spirals, 21 starbursts; UV–mid-IR, gaps filled by model fits), from the
  `frankenz` package;
- QSOs: the Glikman et al. (2006, ApJ 640, 579) composite (SDSS UV-optical + FBQS near-IR,
  801–35,201 Å rest), from the `quasar_unred` source archive, with SMC reddening and the
  Inoue et al. (2014) IGM of the sky;
- stars: the Coelho (2014, MNRAS 440, 1027) model atmospheres (3,000–26,000 K; the sky's stars
  are PHOENIX-ACES / BT-Settl / Koester), from the `SEDFit` package.
Each spectrum is redshifted (galaxies z 0.005–1, QSOs 0.3–3.5), scaled to a drawn i
magnitude, observed by the sky's own survey model (`sky.generate.observe_objects`: Legacy,
MORPHTYPE, the J-PAS "real" system of seed 42) and written as a J-PAS archive catalogue;
`ojala vac` then runs on that file exactly as on a user's. Half of the rows lose MORPHTYPE
(as a catalogue without a Legacy match), so each score is given with and without it.

A control set of the sky's own objects (its BGS and faint galaxies, QSOs and stars, drawn by the
sky's generators at their own magnitudes) goes through the same path in the same file
(SOURCE = "sky"): where the control scores well and the external spectra do not, the gap is
the sky's, not the path's.
"""
from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import outlier_fraction, sigma_nmad
from .photometry import redshift_to_grid
from .sky import generate
from .sky import qso as qso_model
from .sky.generate import NOMINAL_BANDS, _nominal_system, observe_objects
from .sky.jpas_products import write_jpas_catalogue
from .sky.jpas_system import JpasFootprint, JpasObservingSystem
from .sky.stellar_library import package_folder, read_sedfit

__all__ = ["external_catalogue", "score_realism", "summarise_realism", "QSO_TEMPLATE_ARCHIVE", "SETS"]

SETS = ("GALAXY", "QSO", "STAR")
SOURCES_ORDER = ("external", "sky")
STELLAR_TRUTH = ("teff", "logg", "feh")              # Coelho grid parameters; upper case in the sky's truth
QSO_TEMPLATE_ARCHIVE = "quasar_unred-0.18.tar.gz"        # put in .venv/share/ojala by `make venv`
I_RANGE = {"GALAXY": (17.0, 22.0), "QSO": (18.0, 22.0), "STAR": (15.0, 22.5)}
MAG_BINS = (12.0, 19.0, 20.0, 21.0, 22.5, 25.0)      # the last bin holds only the control's faint objects
SYSTEM_SEED = 42                                          # the default sky's real J-PAS system


def brown_galaxies():
    """(rest wavelength [Å], f_λ (129, n) on it, kind per galaxy: PGAL / SGAL / SB)."""
    folder = package_folder("frankenz") / "seds"
    rows = [line.split() for line in (folder / "BROWN.list").read_text().splitlines() if line.strip()]
    grid = np.geomspace(900.0, 60000.0, 4000)
    spectra = []
    for _, _, _, rel in rows:
        wave, flux = np.loadtxt(folder / rel, unpack=True)
        spectra.append(np.interp(grid, wave, np.clip(flux, 0.0, None)))
    return grid, np.array(spectra), np.array([r[2] for r in rows])


def glikman_qso():
    """(rest wavelength [Å], f_λ) of the Glikman et al. (2006) composite."""
    archive = Path(sys.prefix) / "share" / "ojala" / QSO_TEMPLATE_ARCHIVE
    if not archive.exists():
        raise RuntimeError(f"{archive} is missing: `make venv` downloads it (pip download --no-binary :all: "
                           f"--no-deps quasar_unred==0.18)")
    with tarfile.open(archive) as tar:
        wave, flux = np.loadtxt(tar.extractfile("quasar_unred-0.18/qso_template.txt"), unpack=True)
    return wave, np.clip(flux, 0.0, None)


def coelho_stars():
    """(wavelength [Å], f_λ (n, m), parameters table with teff/logg/feh/alpha) of the Coelho grid."""
    grid = read_sedfit(package_folder("SEDFit") / "sed_coelho.p")
    params = pd.DataFrame({k: grid[k] for k in ("teff", "logg", "feh", "alpha")})
    return grid["wavelength"], 10.0 ** grid["log_flambda"].astype(float), params


def _scale_to_i(flambda, mag_i):
    system = _nominal_system()
    i = system.ab_magnitudes(flambda)[:, NOMINAL_BANDS.index("iSDSS")]
    return flambda * 10.0 ** (-0.4 * (mag_i - i))[:, None]


def _objects(rng, n_per_set):
    """Truth frame and nominal-grid f_λ of the external objects, set by set."""
    edges = _nominal_system().edges
    parts = []
    wave, spectra, kind = brown_galaxies()
    pick = rng.integers(0, len(spectra), n_per_set)
    z = rng.uniform(0.005, 1.0, n_per_set)
    parts.append(({"SET": "GALAXY", "TEMPLATE": kind[pick], "TRUE_Z": z,
                   "R_EFF_ARCSEC": rng.uniform(0.2, 2.5, n_per_set), "POINT": False, "QUENCHED": kind[pick] == "PGAL"},
                  redshift_to_grid(wave, spectra[pick], z, edges)))
    wave, flux = glikman_qso()
    z = rng.uniform(0.3, 3.5, n_per_set)
    ebv = rng.exponential(0.03, n_per_set)
    a_over_ebv = (1.0 + qso_model.PEI92_SMC_R_V) * qso_model._pei92_smc_xi(wave)     # as the sky's QSOs
    reddened = flux[None, :] * 10.0 ** (-0.4 * ebv[:, None] * a_over_ebv[None, :])
    reddened *= qso_model._inoue14_transmission(wave, z)
    parts.append(({"SET": "QSO", "TEMPLATE": "Glikman06", "TRUE_Z": z, "R_EFF_ARCSEC": 0.0, "POINT": True,
                   "QUENCHED": False, "EBV": ebv}, redshift_to_grid(wave, reddened, z, edges)))
    wave, flambda, params = coelho_stars()
    pick = rng.integers(0, len(flambda), n_per_set)
    centres = _nominal_system().wavelength
    on_grid = np.exp([np.interp(centres, wave, np.log(np.clip(f, 1e-300, None))) for f in flambda[pick]])
    labels = {f"TRUE_{k.upper()}": params[k].to_numpy()[pick] for k in STELLAR_TRUTH}
    parts.append(({"SET": "STAR", "TEMPLATE": "Coelho14", "TRUE_Z": 0.0, "R_EFF_ARCSEC": 0.0, "POINT": True,
                   "QUENCHED": False, **labels}, on_grid))
    frames, fluxes = [], []
    for columns, flux in parts:
        name = columns["SET"]
        mag_i = rng.uniform(*I_RANGE[name], n_per_set)
        fluxes.append(_scale_to_i(flux, mag_i))
        frames.append(pd.DataFrame({**{k: np.broadcast_to(v, n_per_set) for k, v in columns.items()},
                                    "MAG_I_TRUE": mag_i, "SOURCE": "external"}))
    return pd.concat(frames, ignore_index=True), np.concatenate(fluxes)


def _sky_objects(rng, n_per_set):
    """The control: the sky's own generators (BGS + faint galaxies, QSOs, J-PAS-depth stars) at
    their own magnitudes, in the frame layout of `_objects`."""
    half = n_per_set // 2
    parts = []
    for sample, n in (("BGS", half), ("FAINT", n_per_set - half)):
        z, flambda, truth, r_eff, point, quenched = generate._make_galaxies(rng, n, sample)
        parts.append(({"SET": "GALAXY", "TEMPLATE": [f"sky {sample} {f}" for f in truth["SFH_FAMILY"]],
                       "TRUE_Z": z, "R_EFF_ARCSEC": r_eff, "POINT": point, "QUENCHED": quenched}, flambda))
    z, flambda, truth, r_eff, point, quenched = generate._make_qsos(rng, n_per_set, (17.0, 22.5))
    parts.append(({"SET": "QSO", "TEMPLATE": "sky QSO", "TRUE_Z": z, "R_EFF_ARCSEC": r_eff, "POINT": point,
                   "QUENCHED": quenched}, flambda))
    z, flambda, truth, r_eff, point, quenched = generate._make_stars(rng, n_per_set, (15.0, 23.0))
    parts.append(({"SET": "STAR", "TEMPLATE": [f"sky {s}" for s in truth["STELLAR_STAGE"]], "TRUE_Z": 0.0,
                   "R_EFF_ARCSEC": r_eff, "POINT": point, "QUENCHED": quenched,
                   **{f"TRUE_{k.upper()}": truth[k.upper()] for k in STELLAR_TRUTH}}, flambda))
    frames = []
    for columns, flux in parts:
        n = len(flux)
        mag_i = _nominal_system().ab_magnitudes(flux)[:, NOMINAL_BANDS.index("iSDSS")]
        frames.append(pd.DataFrame({**{k: np.broadcast_to(v, n) if np.ndim(v) == 0 else v for k, v in columns.items()},
                                    "MAG_I_TRUE": mag_i, "SOURCE": "sky"}))
    return pd.concat(frames, ignore_index=True), np.concatenate([flux for _, flux in parts])


def external_catalogue(out_dir, n_per_set=400, seed=7) -> Path:
    """Write ``out_dir/external-jpas.fits`` (J-PAS archive layout) and ``external-truth.parquet``;
    returns the catalogue's path. Deterministic in `seed`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    external, external_flux = _objects(rng, n_per_set)
    control, control_flux = _sky_objects(rng, n_per_set)
    truth = pd.concat([external, control], ignore_index=True)
    flambda = np.concatenate([external_flux, control_flux])
    footprint = JpasFootprint(tile_columns=5)
    system = JpasObservingSystem.draw(SYSTEM_SEED, footprint)
    n = len(truth)
    ra, dec = footprint.draw_jpas_positions(rng, n)
    observed = observe_objects(rng, flambda, truth["R_EFF_ARCSEC"].to_numpy(float), truth["POINT"].to_numpy(bool),
                               truth["QUENCHED"].to_numpy(bool), ra, dec, footprint, system)
    frame = pd.concat([truth, pd.DataFrame(observed)], axis=1)
    frame["OBJECT_ID"] = np.arange(n, dtype=np.int64)
    without = rng.random(n) < 0.5
    frame["HAS_MORPHTYPE"] = ~without
    frame["MORPHTYPE"] = np.where(without, "", frame["MORPHTYPE"])
    jp = frame[frame["IN_JPAS"]].reset_index(drop=True)
    path = out_dir / "external-jpas.fits"
    write_jpas_catalogue(path, jp, seed, legacy_unmatched=0.0)
    jp["JPAS_ID"] = [f"{t}-{i + 1}" for t, i in zip(jp["TILE_ID"], jp["OBJECT_ID"])]
    jp["GIVEN_MORPHTYPE"] = jp["MORPHTYPE"]
    keep = [c for c in jp.columns if c.startswith("TRUE_") or c in {
        "JPAS_ID", "SOURCE", "SET", "TEMPLATE", "MAG_I_TRUE", "HAS_MORPHTYPE", "GIVEN_MORPHTYPE", "EBV",
        "MAG_SYN_iSDSS"}]
    jp[keep].to_parquet(out_dir / "external-truth.parquet")
    return path


def score_realism(vac_frame: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, set, MORPHTYPE given or not, i bin): n, fraction classified right, and
    the set's parameter scores (z σ_NMAD and η for galaxies and QSOs, Teff σ_NMAD [K] for stars).
    Source is "external" (spectra the sky does not use) or "sky" (the control)."""
    merged = truth.merge(vac_frame, on="JPAS_ID", how="inner")
    if "SOURCE" not in merged:
        merged["SOURCE"] = "external"
    rows = []
    bins = pd.cut(merged["MAG_I_TRUE"], MAG_BINS)
    keys = ["SOURCE", "SET", "HAS_MORPHTYPE", bins]
    for (source, name, has_morph, interval), group in merged.groupby(keys, observed=True):
        rows.append({"source": source, "set": name, "morphtype": bool(has_morph),
                     "i_bin": f"{interval.left:g}–{interval.right:g}", **_set_scores(group, name)})
    return pd.DataFrame(rows)


def _set_scores(group: pd.DataFrame, name: str) -> dict:
    """n, fraction classified as `name`, and the set's parameter scores (see `score_realism`)."""
    row = {"n": len(group), "correct_class": float(np.mean(group["CLASS"] == name))}
    if name in ("GALAXY", "QSO"):
        predicted = group["Z_GAL" if name == "GALAXY" else "Z_QSO"].to_numpy(float)
        true = group["TRUE_Z"].to_numpy(float)
        residual = (predicted - true) / (1 + true)
        row.update({"z_sigma_nmad": sigma_nmad(residual), "z_outliers": outlier_fraction(residual)})
    else:
        row["teff_sigma_nmad"] = sigma_nmad(group["TEFF"].to_numpy(float) - group["TRUE_TEFF"].to_numpy(float))
    return row


def summarise_realism(vac_frame: pd.DataFrame, truth: pd.DataFrame) -> list[dict]:
    """One row per (source, set) over every magnitude and both MORPHTYPE states: the figures a model
    card quotes (external spectra against the sky's own control objects)."""
    merged = truth.merge(vac_frame, on="JPAS_ID", how="inner")
    if "SOURCE" not in merged:
        merged["SOURCE"] = "external"
    return [{"source": source, "set": name, **_set_scores(group, name)}
            for (source, name), group in merged.groupby(["SOURCE", "SET"], observed=True)]


def run_realism(model_dir, out_dir, n_per_set=400, seed=7, zero_points=None) -> pd.DataFrame:
    """The whole check: the external catalogue, its VAC by `model_dir` (the user path), the
    scores; writes ``realism.json``, ``realism.md`` and ``realism.png`` in `out_dir` and returns
    the score table. A finished catalogue or VAC in `out_dir` is reused (same `n_per_set`, `seed`)."""
    from .io.files import write_json
    from .vac.produce import RUN_RECORD, produce_vac
    from .vac.store import VacStore

    out_dir = Path(out_dir)
    catalogue = out_dir / "external-jpas.fits"
    about = {"n_per_set": n_per_set, "seed": seed}
    stamp = out_dir / "external.json"
    if not (catalogue.exists() and stamp.exists() and pd.read_json(stamp, typ="series").to_dict() == about):
        shutil.rmtree(out_dir / "vac", ignore_errors=True)       # the VAC of another catalogue
        external_catalogue(out_dir, n_per_set, seed)
        write_json(stamp, about)
    vac_dir = out_dir / "vac"
    run = vac_dir / RUN_RECORD
    if run.exists() and (json.loads(run.read_text())["options"].get("zero_points")
                         != (zero_points.to_dict() if zero_points else None)):
        shutil.rmtree(vac_dir)                                       # the VAC of other zero points
    produce_vac(model_dir, catalogue, vac_dir, zero_points=zero_points)   # resumes a finished VAC by itself
    vac, truth = VacStore(out_dir / "vac").frame, pd.read_parquet(out_dir / "external-truth.parquet")
    table = score_realism(vac, truth)
    write_json(out_dir / "realism.json", {"model": str(model_dir), **about, "sources": SOURCES,
                                          "zero_points": zero_points is not None,
                                          "summary": summarise_realism(vac, truth),
                                          "rows": table.to_dict(orient="records")})
    (out_dir / "realism.md").write_text(_markdown(table, model_dir))
    _plot(table, out_dir / "realism.png")
    return table


SOURCES = {"GALAXY": "Brown et al. 2014 atlas (129 observed galaxies; frankenz 0.1.5), z 0.005-1",
           "QSO": "Glikman et al. 2006 composite (quasar_unred 0.18), SMC E(B-V) ~ Exp(0.03), z 0.3-3.5",
           "STAR": "Coelho 2014 model atmospheres (SEDFit 0.6.1), 3,000-26,000 K",
           "sky": "control: the sky's own generators (BGS + FAINT galaxies, QSOs, stars to r 23) at their own "
                  "magnitudes"}


def _markdown(table: pd.DataFrame, model_dir) -> str:
    lines = [f"# Realism check of {model_dir}", "",
             "Photometry of spectra the sky does not use, through `ojala vac` (see `ojala_core/realism.py`).", ""]
    lines += [f"- {name}: {text}" for name, text in SOURCES.items()]
    lines += ["", "| source | set | MORPHTYPE | i | n | class right | z σ_NMAD | z η | Teff σ_NMAD [K] |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        def cell(name, fmt):
            value = getattr(r, name, np.nan)
            return "—" if not np.isfinite(value) else format(value, fmt)
        lines.append(f"| {r.source} | {r.set} | {'given' if r.morphtype else 'absent'} | {r.i_bin} | {r.n} | "
                     f"{r.correct_class:.2f} | {cell('z_sigma_nmad', '.3f')} | {cell('z_outliers', '.2f')} | "
                     f"{cell('teff_sigma_nmad', '.0f')} |")
    return "\n".join(lines) + "\n"


def _plot(table: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(MAG_BINS[:-1], MAG_BINS[1:])]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, name in zip(axes, SETS):
        for source, colour in zip(SOURCES_ORDER, ("tab:red", "tab:gray")):
            for given, style in ((True, "-o"), (False, "--s")):
                rows = table[(table["source"] == source) & (table["set"] == name) & (table["morphtype"] == given)]
                ax.plot([labels.index(b) for b in rows["i_bin"]], rows["correct_class"], style, color=colour,
                        label=f"{source}, MORPHTYPE {'given' if given else 'absent'}")
        ax.set_title(f"{name}: {SOURCES[name].split('(')[0].strip()}", fontsize=9)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("true i [AB]")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"fraction classified {'/'.join(SETS)} right")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
