"""Training configuration: one dataclass, read from / written to JSON files in training/configs/.

Not for the architecture (see `ojala_core.model.config`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..io.tables import InputError

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run.

    preset : model preset ('tiny', 'small', 'paper')
    batch_size : objects per step (synthetic); the real batch for domain adaptation is the same size
    learning_rate, weight_decay : AdamW
    warmup_steps : linear warm-up, then cosine decay to 10 % over `max_steps`
    max_steps : optimiser steps (the run also stops at --max-minutes)
    eval_every_steps : evaluation on test_synth / test_real
    eval_objects : objects of each test set used in periodic evaluation
    domain_adaptation : weighted-MMD alignment to jpas_unlabelled (False = the --no-da ablation)
    label_fraction : share of objects per step asked every label they have, from observations only
        (0 = the paper's game alone: up to 5 targets of any kind)
    context_dropout : share of objects whose context loses MORPHTYPE and the Legacy/WISE magnitudes
    dropout : dropout of the network (None: the preset's)
    init_from : model folder whose trained weights start this run (same preset and vocabulary; None:
        random initialisation). Chains runs: a second run continues a shipped model with a fresh schedule.
    seed : int
    """

    preset: str = "small"
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 500
    max_steps: int = 20_000
    eval_every_steps: int = 1_000
    eval_objects: int = 4_000
    domain_adaptation: bool = True
    label_fraction: float = 0.0
    context_dropout: float = 0.0
    dropout: float | None = None
    init_from: str | None = None
    seed: int = 42

    @classmethod
    def from_json(cls, path) -> "TrainConfig":
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"{path}: unknown training options {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)
