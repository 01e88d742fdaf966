"""Run a training: read the mock tables, fit the normalisation, train with Lightning, save the model.

Not for the step logic (see `module`).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from ..io.tables import InputError
from ..model.config import MODEL_PRESETS
from ..model.pretrained import Ojala
from ..model.tokenizer import Normalisation, TokenTable
from ..vocabulary import DEFAULT_VOCABULARY
from .config import TrainConfig
from .masking import inverse_frequency_weights
from .module import EVAL_SPLITS, OjalaLightning
from .sampling import object_weights

__all__ = ["train_model", "read_split"]

log = logging.getLogger(__name__)


def read_split(mock_dir, split) -> pd.DataFrame:
    path = Path(mock_dir) / f"{split}.parquet"
    if not path.exists():
        raise InputError(f"{path}: not found; build the mocks first ('ojala mocks')")
    return pd.read_parquet(path)


def _dataset(table: TokenTable) -> TensorDataset:
    return TensorDataset(table.values, table.errors, table.present)


def _callbacks(config: TrainConfig, max_minutes: float | None, sampler_generator: torch.Generator):
    """Per-run wall-time limit, and fresh random streams after resuming (not a replay of the first steps)."""
    import lightning as L

    class RunLimits(L.Callback):
        def on_train_start(self, trainer, module):
            self.start = time.time()
            if trainer.global_step > 0:
                L.seed_everything(config.seed + trainer.global_step, workers=True)
                sampler_generator.manual_seed(config.seed + trainer.global_step)

        def on_train_batch_end(self, trainer, *args):
            # Lightning's max_time would count the time of earlier runs restored from a checkpoint.
            if max_minutes and time.time() - self.start > 60.0 * max_minutes:
                trainer.should_stop = True

    return [RunLimits()]


def _initial_model(config: TrainConfig, train: pd.DataFrame) -> Ojala:
    """A fresh model of the config's preset, or the trained weights of ``config.init_from`` (its
    normalisation kept, so the weights see the inputs they were trained on)."""
    architecture = MODEL_PRESETS[config.preset]
    if config.dropout is not None:
        architecture = replace(architecture, dropout=config.dropout)
    if config.init_from is None:
        return Ojala(architecture, DEFAULT_VOCABULARY, Normalisation.fit(train, DEFAULT_VOCABULARY))
    start = Ojala.from_pretrained(config.init_from, expected_vocabulary=DEFAULT_VOCABULARY)
    if replace(start.config, dropout=architecture.dropout) != architecture:
        raise InputError(f"init_from {config.init_from}: its architecture {start.config.to_dict()} is not "
                         f"preset {config.preset!r} ({architecture.to_dict()})")
    model = Ojala(architecture, DEFAULT_VOCABULARY, start.normalisation)
    model.net.load_state_dict(start.net.state_dict())
    # Steps and minutes of the runs this one continues, for the model card.
    model.info = {"earlier_runs": [*start.info.get("earlier_runs", []),
                                   {key: start.info.get(key) for key in ("steps", "seconds_this_run", "train_config")}]}
    return model


def train_model(mock_dir, out_dir, config: TrainConfig, max_minutes: float | None = None,
                resume: bool = False, accelerator: str = "auto") -> Ojala:
    """Train a model on `mock_dir` and save it (config.json + model.safetensors) in `out_dir`.

    Checkpoints go to ``out_dir/checkpoints`` (``last.ckpt`` is what --resume continues),
    metrics to ``out_dir/logs/*/metrics.csv``.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Path(mock_dir) / "manifest.json"
    source = json.loads(manifest.read_text()) if manifest.exists() else {}
    L.seed_everything(config.seed, workers=True)
    train = read_split(mock_dir, "train")
    model = _initial_model(config, train)
    tokens = model.tokenizer.encode(train)
    weights = object_weights(train, seed=config.seed)
    real = model.tokenizer.encode(read_split(mock_dir, "jpas_unlabelled")) if config.domain_adaptation else None
    rng = np.random.default_rng(config.seed)
    evals = []
    for split in EVAL_SPLITS:
        frame = read_split(mock_dir, split)
        pick = np.sort(rng.choice(len(frame), min(len(frame), config.eval_objects), replace=False))
        evals.append(DataLoader(_dataset(model.tokenizer.encode(frame.iloc[pick])), batch_size=512))
    generator = torch.Generator().manual_seed(config.seed)
    sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), num_samples=len(train),
                                    replacement=True, generator=generator)
    loader = DataLoader(_dataset(tokens), batch_size=config.batch_size, sampler=sampler, drop_last=True)
    module = OjalaLightning(model, config, inverse_frequency_weights(tokens.present), real)

    gpus = torch.cuda.device_count() if accelerator in ("auto", "gpu", "cuda") else 0
    checkpoint = ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True, enable_version_counter=False,
                                 every_n_train_steps=config.eval_every_steps)
    trainer = L.Trainer(
        max_steps=config.max_steps,
        accelerator=accelerator, devices="auto", strategy="ddp" if gpus > 1 else "auto",
        precision="bf16-mixed" if gpus else "32-true", gradient_clip_val=1.0,
        val_check_interval=config.eval_every_steps, check_val_every_n_epoch=None,
        logger=CSVLogger(out_dir, name="logs"), callbacks=[checkpoint, *_callbacks(config, max_minutes, generator)],
        log_every_n_steps=max(1, min(50, config.eval_every_steps // 2)),
        enable_model_summary=False, num_sanity_val_steps=0,
    )
    last = out_dir / "checkpoints" / "last.ckpt"
    if resume and not last.exists():
        log.warning("--resume: no %s, starting from scratch", last)
    t0 = time.time()
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=evals,
                ckpt_path=str(last) if resume and last.exists() else None)
    # The periodic checkpoint can be up to eval_every_steps old when a time limit stops the run.
    trainer.save_checkpoint(last)
    model.info = {**model.info, "train_config": config.to_dict(), "mock_dir": str(mock_dir),
                  "mock_manifest": source.get("inputs", {}).get("source_manifest", {}),
                  "steps": int(trainer.global_step), "seconds_this_run": round(time.time() - t0, 1),
                  "n_parameters": model.n_parameters(), "n_train_objects": len(train)}
    if trainer.is_global_zero:
        model.save_pretrained(out_dir)
    return model
