"""Domain adaptation, step-matched: the same recipe with and without the MMD term, several seeds each.

Trains `--config` (default the shipped recipe, small-labels.json) for exactly `--steps` optimiser
steps with DA and with ``--no-da`` for every seed, on the same mocks; scores each model with
``ojala evaluate`` on Test-Synth and Test-Real (i < 21) and with the external-spectra realism check;
prints, per headline metric, Test-Real, Test-Synth and the gap Test-Real − Test-Synth as mean ± std
over seeds, and says whether DA closes at least half of the no-DA gap. Finished runs are reused
(rerun the same command to resume):
    python bench/ablation_da.py --mocks data/mocks-default --out runs/ablation-da [--steps 1500] [--seeds 1 2 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# (label, key of evaluate_table's scores, field); lower is better for every σ and η, higher for F1.
HEADLINE = [("weighted F1", "weighted_f1", None), ("galaxy z σ_NMAD", "Z_GAL", "sigma_nmad"),
            ("galaxy z η", "Z_GAL", "outlier_fraction"), ("QSO z>1.5 σ_NMAD", "Z_QSO_z>1.5", "sigma_nmad"),
            ("log M* σ_NMAD", "LOGM", "sigma_nmad"), ("log SFR (SF) σ_NMAD", "LOGSFR_SF_err<0.5", "sigma_nmad"),
            ("log EW Hα σ", "HALPHA_6562_EW", "sigma_nmad"), ("log EW Hβ σ", "HBETA_4861_EW", "sigma_nmad"),
            ("log EW [OIII] σ", "OIII_5007_EW", "sigma_nmad"), ("log EW [NII] σ", "NII_6584_EW", "sigma_nmad"),
            ("Teff σ_NMAD [K]", "TEFF", "sigma_nmad"), ("log g σ_NMAD", "LOGG", "sigma_nmad"),
            ("[Fe/H] σ_NMAD", "FEH", "sigma_nmad")]


def _value(scores, key, field):
    entry = scores.get(key)
    if entry is None or (isinstance(entry, dict) and entry.get("n", 10) < 10):    # too few objects to score
        return np.nan
    return float(entry if field is None else entry.get(field, np.nan))


def _train(mocks, config, out, seed, da, steps):
    """Train one model (or reuse a finished one); returns samples/s of its run."""
    saved = out / "config.json"
    info = json.loads(saved.read_text()).get("info", {}) if saved.exists() else {}
    if info.get("steps") == steps:
        return steps * info["train_config"]["batch_size"] / info["seconds_this_run"]
    cfg = json.loads(Path(config).read_text())
    cfg.update(max_steps=steps, warmup_steps=min(cfg.get("warmup_steps", 300), steps // 10),
               eval_every_steps=steps)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run-config.json").write_text(json.dumps(cfg, indent=1))
    cmd = [sys.executable, "-m", "ojala_core.cli", "train", "--mocks", str(mocks), "--out", str(out),
           "--config", str(out / "run-config.json"), "--seed", str(seed)] + ([] if da else ["--no-da"])
    if (out / "checkpoints" / "last.ckpt").exists():
        cmd.append("--resume")
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    rate = steps * cfg["batch_size"] / (time.time() - t0)
    return rate


def _realism(model_dir, out, n, mocks):
    """Aggregate realism scores of one model: class right, galaxy and QSO z η, star Teff σ, per source
    (with the mocks' zero points, when they have them, as the VAC of the sky's catalogue)."""
    from ojala_core.metrics import outlier_fraction, sigma_nmad
    from ojala_core.realism import run_realism
    from ojala_core.vac.store import VacStore
    from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints

    zero_points = Path(mocks) / ZERO_POINTS_FILE
    run_realism(model_dir, out, n_per_set=n, seed=7,
                zero_points=ZeroPoints.load(zero_points) if zero_points.exists() else None)
    merged = pd.read_parquet(out / "external-truth.parquet").merge(VacStore(out / "vac").frame, on="JPAS_ID")
    result = {}
    for source, group in merged.groupby(merged.get("SOURCE", pd.Series("external", index=merged.index))):
        row = {"class right": float(np.mean(group["CLASS"].astype(str) == group["SET"]))}
        for name, z in (("GALAXY", "Z_GAL"), ("QSO", "Z_QSO")):
            g = group[group["SET"] == name]
            row[f"{name.lower()} z η"] = outlier_fraction((g[z] - g["TRUE_Z"]) / (1 + g["TRUE_Z"]))
        stars = group[group["SET"] == "STAR"]
        row["star Teff σ_NMAD"] = sigma_nmad(stars["TEFF"] - stars["TRUE_TEFF"])
        result[source] = row
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mocks", default="data/mocks-default")
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "small-labels.json"))
    parser.add_argument("--out", default="runs/ablation-da")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--realism-n", type=int, default=200, help="objects per set in the realism check")
    args = parser.parse_args()

    from ojala_core.evaluation import evaluate_table
    from ojala_core.model.pretrained import Ojala
    from ojala_core.train.run import read_split

    out = Path(args.out)
    tables = {s: read_split(args.mocks, s) for s in ("test_synth", "test_real")}
    runs = []
    for seed in args.seeds:
        for da in (True, False):
            folder = out / f"{'da' if da else 'no-da'}-seed{seed}"
            rate = _train(args.mocks, args.config, folder, seed, da, args.steps)
            scores_path = folder / "ablation-scores.json"
            if not scores_path.exists():
                model = Ojala.from_pretrained(folder)
                scores = {s: evaluate_table(model, t) for s, t in tables.items()}
                scores["realism"] = _realism(folder, folder / "realism", args.realism_n, args.mocks)
                scores_path.write_text(json.dumps(scores, indent=1, default=float))
            scores = json.loads(scores_path.read_text())
            runs.append({"seed": seed, "da": da, "samples_per_s": rate, **scores})
            print(f"seed {seed} {'DA   ' if da else 'no-DA'}: done ({folder})", flush=True)
    (out / "ablation.json").write_text(json.dumps(runs, indent=1, default=float))

    def stats(da, fn):
        values = np.array([fn(r) for r in runs if r["da"] == da], dtype=float)
        return values.mean(), values.std(ddof=1) if len(values) > 1 else np.nan

    print(f"\n{args.steps} steps each, seeds {args.seeds}, mocks {args.mocks}, config {args.config}")
    # The gap is how much worse Test-Real is than Test-Synth (σ, η: Real − Synth; F1: Synth − Real).
    # DA "closes" it when its gap is at most half the no-DA one; "no gap" when the no-DA gap is not
    # larger than its own seed-to-seed spread.
    print(f"{'metric':22s} {'Test-Real DA':>16s} {'no-DA':>16s} {'gap DA':>16s} {'gap no-DA':>16s}  DA closes ≥ 50 %")
    closed = gaps = 0
    for label, key, field in HEADLINE:
        sign = -1.0 if key == "weighted_f1" else 1.0
        real = lambda r: _value(r["test_real"], key, field)  # noqa: E731
        gap = lambda r: sign * (real(r) - _value(r["test_synth"], key, field))  # noqa: E731
        cells = [stats(True, real), stats(False, real), stats(True, gap), stats(False, gap)]
        (gap_da, _), (gap_no, spread) = cells[2], cells[3]
        if not gap_no > (spread if np.isfinite(spread) else 0.0):
            verdict = "no gap"
        else:
            gaps += 1
            closed += gap_da <= 0.5 * gap_no
            verdict = "yes" if gap_da <= 0.5 * gap_no else "no"
        print(f"{label:22s} " + " ".join(f"{m:8.4f}±{s:6.4f}" for m, s in cells) + f"  {verdict}")
    print(f"DA closes ≥ 50 % of the no-DA Test-Real − Test-Synth gap on {closed} of the {gaps} metrics with a gap "
          f"(of {len(HEADLINE)})")
    for source in ("external", "sky"):
        keys = list(runs[0]["realism"].get(source, {}))
        for key in keys:
            a, b = (stats(da, lambda r: r["realism"][source][key]) for da in (True, False))
            print(f"realism {source:8s} {key:18s} DA {a[0]:.3f}±{a[1]:.3f}  no-DA {b[0]:.3f}±{b[1]:.3f}")
    print("samples/s (under this machine's load): DA {:.0f}±{:.0f}, no-DA {:.0f}±{:.0f}".format(
        *stats(True, lambda r: r["samples_per_s"]), *stats(False, lambda r: r["samples_per_s"])))


if __name__ == "__main__":
    main()
