"""Training recipe, step-matched: each change to a base config trained for the same steps on the same mocks.

Every variant is the base config (default the shipped recipe, small-labels.json) with a few keys
changed; each is trained for exactly `--steps` optimiser steps without the DA term (the DA ablation
is bench/ablation_da.py) and the same seed, scored with ``ojala evaluate``'s scores on Test-Real
(i < 21), and printed as a table: the base's value, each variant's value and its difference, and
the samples/s of each run (measured one after the other on this machine). Finished runs are reused
(rerun the same command to resume):
    python bench/ablation_recipe.py --mocks data/mocks-default --out runs/ablation-recipe --steps 1000 \\
        --variant labels-0.9 label_fraction=0.9 --variant dropout-0 dropout=0
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_da import HEADLINE, ROOT, _train, _value  # noqa: E402

DEFAULT_VARIANTS = {"labels-0.9": {"label_fraction": 0.9}, "dropout-0": {"dropout": 0.0},
                    "lr-2e-3": {"learning_rate": 0.002}}


def _parse_variants(items) -> dict:
    """``--variant NAME KEY=VALUE ...`` → {NAME: {KEY: VALUE}} (values read as JSON, else as text)."""
    variants = {}
    for name, *pairs in items:
        changes = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep:
                raise SystemExit(f"--variant {name}: '{pair}' is not KEY=VALUE")
            try:
                changes[key] = json.loads(text)
            except json.JSONDecodeError:
                changes[key] = text
        variants[name] = changes
    return variants


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mocks", default="data/mocks-default")
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "small-labels.json"))
    parser.add_argument("--out", default="runs/ablation-recipe")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="a named change to the base config (repeatable); default: "
                             + ", ".join(f"{n} {c}" for n, c in DEFAULT_VARIANTS.items()))
    args = parser.parse_args()

    from ojala_core.evaluation import evaluate_table
    from ojala_core.model.pretrained import Ojala
    from ojala_core.train.run import read_split

    out = Path(args.out)
    base = json.loads(Path(args.config).read_text())
    variants = {"base": {}, **(_parse_variants(args.variant) if args.variant else DEFAULT_VARIANTS)}
    test_real = read_split(args.mocks, "test_real")
    results = {}
    for name, changes in variants.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / "variant-config.json"
        config_path.write_text(json.dumps({**base, **changes}, indent=1))
        rate = _train(args.mocks, config_path, folder, args.seed, False, args.steps)
        scores_path = folder / "recipe-scores.json"
        if not scores_path.exists():
            scores_path.write_text(json.dumps(evaluate_table(Ojala.from_pretrained(folder), test_real),
                                              indent=1, default=float))
        results[name] = {"samples_per_s": rate, "scores": json.loads(scores_path.read_text())}
        print(f"{name}: done ({folder}, {rate:.0f} samples/s)", flush=True)
    (out / "ablation.json").write_text(json.dumps({"variants": variants, "results": results}, indent=1, default=float))

    names = list(variants)
    print(f"\n{args.steps} steps each, no DA, seed {args.seed}, mocks {args.mocks}, base {args.config}; "
          "Test-Real, i < 21 (lower is better except F1)")
    print(f"{'metric':22s} {'base':>9s} " + " ".join(f"{n + ' (Δ)':>22s}" for n in names[1:]))
    # log SFR of every galaxy too: after a short run no star-forming galaxy has σ_pred < 0.5 dex
    for label, key, field in [*HEADLINE, ("log SFR σ_NMAD (all)", "LOGSFR", "sigma_nmad")]:
        ref = _value(results["base"]["scores"], key, field)
        cells = []
        for n in names[1:]:
            v = _value(results[n]["scores"], key, field)
            cells.append(f"{v:9.4f} ({v - ref:+8.4f})" if np.isfinite(v) else f"{'–':>22s}")
        print(f"{label:22s} {ref:9.4f} " + " ".join(f"{c:>22s}" for c in cells) if np.isfinite(ref) else
              f"{label:22s} {'–':>9s} " + " ".join(f"{c:>22s}" for c in cells))
    print(f"{'samples/s':22s} {results['base']['samples_per_s']:9.0f} "
          + " ".join(f"{results[n]['samples_per_s']:22.0f}" for n in names[1:]))
    for n in names[1:]:
        print(f"{n}: {variants[n]}")


if __name__ == "__main__":
    main()
