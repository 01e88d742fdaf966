"""Fine-tune a light head on frozen object embeddings for a new property (e.g. LOG_MBH, paper Sect. 4.6).

The transformer is not touched: embeddings are computed once, then a small MLP is fitted
with a Gaussian NLL (label errors added to the predicted variance). Not for training
the transformer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..io.tables import InputError
from ..model.inference import predict
from ..model.pretrained import FineTunedHead, Ojala
from .losses import gaussian_nll

__all__ = ["finetune_head"]


def finetune_head(model: Ojala, frame: pd.DataFrame, target: str, steps: int = 2000, hidden: int = 64,
                  learning_rate: float = 3e-3, seed: int = 0) -> dict:
    """Fit head `target` on the rows of `frame` that have it; adds it to `model`.

    Parameters
    ----------
    model : Ojala
    frame : DataFrame with token columns and ``target`` (and optionally ``target_ERR``)
    target : str
        Column with the new property (physical units).

    Returns
    -------
    dict with the fitted mean/std of the property, the number of objects and the
    final training loss.
    """
    rows = frame[np.isfinite(pd.to_numeric(frame[target], errors="coerce"))]
    if len(rows) < 10:
        raise InputError(f"only {len(rows)} objects have '{target}': too few to fine-tune a head")
    _, embedding = predict(model, rows, targets=[], batch_size=512)
    ok = np.isfinite(embedding).all(1)
    y = rows[target].to_numpy(float)[ok]
    err = rows[f"{target}_ERR"].to_numpy(float)[ok] if f"{target}_ERR" in rows else np.zeros(ok.sum())
    err = np.where(np.isfinite(err), err, 0.0)
    mean, std = float(y.mean()), float(max(y.std(), 1e-6))
    torch.manual_seed(seed)
    head = FineTunedHead(model.config.d_model, hidden, mean, std)
    x = torch.as_tensor(embedding[ok], dtype=torch.float32)
    t = torch.as_tensor((y - mean) / std, dtype=torch.float32)
    s = torch.as_tensor(err / std, dtype=torch.float32)
    optimiser = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(x), (min(512, len(x)),), generator=generator)
        mu, log_var = head(x[batch])
        loss = gaussian_nll(mu, log_var, t[batch], s[batch]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.add_head(target, head.eval())
    return {"target": target, "n_objects": int(ok.sum()), "mean": mean, "std": std, "final_loss": loss.item()}
