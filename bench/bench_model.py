"""Model throughput on this machine: inference objects/s (all targets, one decoder pass) and training samples/s.

Prints the figures with the data size and thread count, the paper preset's inference rate as a
ratio of the small one's, and the training steps of the shipped weights' recipes (the configs of
its chained runs; run 3, small-refine.json, times as run 2: only its learning rate differs)
against the paper's game (samples/s, targets answered/s, FLOPs against the measured matmul peak),
all in the same run;
with ``--baseline-ref`` also the same training steps on the code of that git commit (a child process
importing it), before and after which this code is timed again:
    python bench/bench_model.py [--mocks data/mocks-default] [--objects 4000] [--train-steps 20]
    python bench/bench_model.py --baseline-ref 65fd28f --train-steps 30
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ojala_core.model.config import MODEL_PRESETS
from ojala_core.model.inference import predict
from ojala_core.model.pretrained import Ojala
from ojala_core.model.tokenizer import Normalisation
from ojala_core.train.config import TrainConfig
from ojala_core.train.masking import inverse_frequency_weights
from ojala_core.train.module import OjalaLightning
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V


def _inference_rate(model, frame, batch_size):
    predict(model, frame.head(batch_size), batch_size=batch_size)
    t0 = time.perf_counter()
    predict(model, frame, batch_size=batch_size)
    return len(frame) / (time.perf_counter() - t0)


def _matmul_peak(n=1024, repeats=20) -> float:
    """Measured float32 matmul rate of this machine [GFLOP/s] (the ceiling a training step is compared with)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def _training_rate(model, frame, batch_size, steps, real, config: TrainConfig):
    """(samples/s, targets answered/s, GFLOP per step) of `config`'s training step with DA."""
    from torch.utils.flop_counter import FlopCounterMode

    tokens = model.tokenizer.encode(frame)
    module = OjalaLightning(model, config, inverse_frequency_weights(tokens.present), model.tokenizer.encode(real))
    optimiser = torch.optim.AdamW(list(module.parameters()), lr=1e-4)
    module.log = module.log_dict = lambda *a, **k: None  # no Trainer attached
    module.train()
    rng = np.random.default_rng(0)
    asked = []
    original = module.target_losses

    def counting(out, targets, valid, values, errors):
        asked.append(int(valid.sum()))
        return original(out, targets, valid, values, errors)

    module.target_losses = counting

    def step(seed):
        idx = torch.as_tensor(rng.choice(len(tokens), batch_size))
        loss = module.training_step((tokens.values[idx], tokens.errors[idx], tokens.present[idx]), seed)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    with FlopCounterMode(display=False) as counter:
        step(0)
    gflop = counter.get_total_flops() / 1e9
    asked.clear()
    t0 = time.perf_counter()
    for k in range(steps):
        step(k + 1)
    seconds = time.perf_counter() - t0
    return steps * batch_size / seconds, sum(asked) / seconds, gflop


CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"
# The training recipes timed: the paper's game, and the chained runs of the shipped weights (their
# configs' masking options and model dropout; every one with DA, at the bench's batch size). Run 3
# (small-refine.json) has run 2's options and a lower learning rate, so the same step cost.
RECIPES = {"paper game (small.json)": "small.json",
           "label mode 0.6, dropout 0.1 (small-labels.json, run 1)": "small-labels.json",
           "label mode 0.9, dropout 0 (small-continue.json, run 2)": "small-continue.json"}
_TIMED_OPTIONS = ("label_fraction", "context_dropout", "dropout")


def _recipe(name) -> dict:
    """The options of `RECIPES[name]`'s config file that change a step's cost (absent: the defaults)."""
    path = CONFIGS / RECIPES[name]
    if not path.exists():       # an older checkout (--baseline-ref) without that file: its defaults
        return {}
    record = json.loads(path.read_text())
    return {k: record[k] for k in _TIMED_OPTIONS if k in record}


def _training_rates(train, real, batch_size, steps, peak=None) -> dict:
    """{recipe: (samples/s, targets answered/s)} of the `small` preset's training step with DA."""
    measured = {}
    for name in RECIPES:
        options = _recipe(name)
        dropout = options.pop("dropout", None)
        preset = MODEL_PRESETS["small"] if dropout is None else replace(MODEL_PRESETS["small"], dropout=dropout)
        torch.manual_seed(0)
        model = Ojala(preset, V, Normalisation.fit(train, V))
        samples, targets, gflop = _training_rate(model, train, batch_size, steps, real,
                                                 TrainConfig(batch_size=batch_size, **options))
        measured[name] = (samples, targets)
        if peak:
            achieved = gflop * samples / batch_size
            print(f"small, {name}: {samples:6.0f} samples/s, {targets:7.0f} targets answered/s, {gflop:.1f} "
                  f"GFLOP/step, {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of the matmul peak")
    return measured


def _baseline_rates(ref, args) -> dict:
    """The same training steps on the code of git commit `ref` (its ojala_core, this script), in a child."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-model-") as old:
        archive = subprocess.run(["git", "archive", ref, "ojala_core"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        out = subprocess.run([sys.executable, __file__, "--training-only", "--mocks", args.mocks, "--objects",
                              str(args.objects), "--batch-size", str(args.batch_size), "--train-steps",
                              str(args.train_steps)], check=True, capture_output=True, text=True, cwd=root,
                             env=dict(os.environ, PYTHONPATH=old))
    return {k: tuple(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mocks", default="data/mocks-default")
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--baseline-ref", default=None, help="git commit whose training step is timed too")
    parser.add_argument("--training-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    frame = pd.read_parquet(f"{args.mocks}/test_real.parquet").head(args.objects)
    real = pd.read_parquet(f"{args.mocks}/jpas_unlabelled.parquet").head(args.objects)
    train = pd.read_parquet(f"{args.mocks}/train.parquet").head(args.objects)
    if args.training_only:
        print(json.dumps(_training_rates(train, real, args.batch_size, args.train_steps)))
        return
    print(f"objects={len(frame)} batch={args.batch_size} torch threads={torch.get_num_threads()} "
          f"targets={len(V.targets)} (one decoder pass)")
    peak = _matmul_peak()
    print(f"measured float32 matmul peak: {peak:.1f} GFLOP/s")
    rates = {}
    for preset in ("small", "paper"):
        torch.manual_seed(0)
        model = Ojala(MODEL_PRESETS[preset], V, Normalisation.fit(train, V)).eval()
        rates[preset] = _inference_rate(model, frame, args.batch_size)
        print(f"{preset:6s} {model.n_parameters():>10,} params  inference {rates[preset]:8.0f} objects/s")
    print(f"paper/small inference: {rates['paper'] / rates['small']:.2f}x; 1,000,000 objects: "
          f"{1e6 / rates['small'] / 60:.1f} min with 'small', {1e6 / rates['paper'] / 60:.1f} min with 'paper'")
    # Training: the paper's game (small.json) against the recipes of the shipped weights' runs.
    measured = _training_rates(train, real, args.batch_size, args.train_steps, peak)
    names = list(RECIPES)
    (a_s, a_t) = measured[names[0]]
    for name in names[1:]:
        b_s, b_t = measured[name]
        print(f"{name} / paper game: samples/s {b_s / a_s:.2f}x, targets answered/s {b_t / a_t:.2f}x")
    print(f"run 2 / run 1 recipe: samples/s {measured[names[2]][0] / measured[names[1]][0]:.2f}x")
    if args.baseline_ref:
        old = _baseline_rates(args.baseline_ref, args)
        again = _training_rates(train, real, args.batch_size, args.train_steps)     # this code, after the child
        for name in RECIPES:
            now = (measured[name][0] + again[name][0]) / 2
            print(f"{name}: this code {now:.0f} samples/s (before and after: {measured[name][0]:.0f}, "
                  f"{again[name][0]:.0f}), {args.baseline_ref} {old[name][0]:.0f} samples/s: x{now / old[name][0]:.2f}")
        label, paper = list(RECIPES)[1], list(RECIPES)[0]
        label_now = (measured[label][1] + again[label][1]) / 2
        print(f"targets answered/s, this code's label-mode recipe against {args.baseline_ref}'s paper game: "
              f"x{label_now / old[paper][1]:.2f}")


if __name__ == "__main__":
    main()
