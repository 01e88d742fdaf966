"""Model throughput on this machine: inference objects/s (all targets, one decoder pass) and training samples/s.

Prints the figures with the data size and thread count, and the paper preset's rate as a
ratio of the small one's (both measured in the same run):
    python bench/bench_model.py [--mocks data/mocks-default] [--objects 4000]
"""
from __future__ import annotations

import argparse
import time

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


def _training_rate(model, frame, batch_size, steps, real):
    tokens = model.tokenizer.encode(frame)
    module = OjalaLightning(model, TrainConfig(batch_size=batch_size), inverse_frequency_weights(tokens.present),
                            model.tokenizer.encode(real))
    optimiser = torch.optim.AdamW(list(module.parameters()), lr=1e-4)
    module.log = module.log_dict = lambda *a, **k: None  # no Trainer attached
    module.train()
    rng = np.random.default_rng(0)
    t0 = None
    for step in range(steps + 1):
        if step == 1:
            t0 = time.perf_counter()
        idx = torch.as_tensor(rng.choice(len(tokens), batch_size))
        loss = module.training_step((tokens.values[idx], tokens.errors[idx], tokens.present[idx]), step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return steps * batch_size / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mocks", default="data/mocks-default")
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args()
    frame = pd.read_parquet(f"{args.mocks}/test_real.parquet").head(args.objects)
    real = pd.read_parquet(f"{args.mocks}/jpas_unlabelled.parquet").head(args.objects)
    train = pd.read_parquet(f"{args.mocks}/train.parquet").head(args.objects)
    print(f"objects={len(frame)} batch={args.batch_size} torch threads={torch.get_num_threads()} "
          f"targets={len(V.targets)} (one decoder pass)")
    rates = {}
    for preset in ("small", "paper"):
        torch.manual_seed(0)
        model = Ojala(MODEL_PRESETS[preset], V, Normalisation.fit(train, V)).eval()
        rates[preset] = (_inference_rate(model, frame, args.batch_size),
                         _training_rate(model, train, args.batch_size, args.train_steps, real))
        print(f"{preset:6s} {model.n_parameters():>10,} params  inference {rates[preset][0]:8.0f} objects/s  "
              f"training (with DA) {rates[preset][1]:6.0f} samples/s")
    print(f"paper/small: inference {rates['paper'][0] / rates['small'][0]:.2f}x, "
          f"training {rates['paper'][1] / rates['small'][1]:.2f}x")
    print(f"1,000,000 objects with 'small': {1e6 / rates['small'][0] / 60:.1f} min; "
          f"with 'paper': {1e6 / rates['paper'][0] / 60:.1f} min")


if __name__ == "__main__":
    main()
