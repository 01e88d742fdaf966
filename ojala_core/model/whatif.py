"""Band reconstruction and masked ("what-if") predictions for single objects or small sets.

`reconstruct_bands` predicts each narrow band of an object from all its other tokens
(the band itself hidden), with its 1σ; `mask_groups` names the groups a user can hide
(each filter, trays T1–T4, broad bands, morphology) from the vocabulary table;
`whatif_predict` predicts with those tokens hidden. Not for catalogues (see `ojala_core.vac`).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

from ..vocabulary import TRAYS
from .inference import predict
from .packing import pack_tokens
from .pretrained import Ojala

__all__ = ["reconstruct_bands", "mask_groups", "context_without", "whatif_predict"]


@torch.no_grad()
def reconstruct_bands(model: Ojala, row: pd.DataFrame, bands: Iterable[str] | None = None) -> pd.DataFrame:
    """Each band of `bands` (default: the narrow bands) predicted from every other token of the
    one-row token table `row`.

    Returns a DataFrame indexed by band with ``VALUE`` and ``ERR`` (token units: f_ν/f_ν(iSDSS)
    for narrow bands) and ``OBSERVED``/``OBSERVED_ERR`` (NaN where the band is missing).
    """
    vocab = model.vocabulary
    bands = list(bands if bands is not None else vocab.narrow_bands)
    model.eval()
    one = model.tokenizer.encode(row.iloc[:1].reset_index(drop=True))      # encoded once, one copy per band
    values, errors = (t.expand(len(bands), -1) for t in (one.values, one.errors))
    index = torch.tensor([vocab.index(b) for b in bands], dtype=torch.long)
    present = (one.present & ~model.net.is_label[None, :]).repeat(len(bands), 1)
    present[torch.arange(len(bands)), index] = False          # row j hides band j
    out = pd.DataFrame(index=pd.Index(bands, name="BAND"), columns=["VALUE", "ERR"], dtype=float)
    if present.any(1).all():
        ids, v, e, valid = pack_tokens(present, values, errors)
        memory, _ = model.net.encode(ids, v, e, valid)
        mean, log_var, _ = model.net.decode(memory, ids, valid, index[:, None])
        decoded = [model.tokenizer.decode(k, mean[j:j + 1, 0].numpy(), log_var[j:j + 1, 0].numpy())
                   for j, k in enumerate(index.tolist())]
        out["VALUE"] = [float(value[0]) for value, _ in decoded]
        out["ERR"] = [float(sigma[0]) for _, sigma in decoded]
    out["OBSERVED"] = [float(row.iloc[0][b]) if b in row else np.nan for b in bands]
    out["OBSERVED_ERR"] = [float(row.iloc[0][f"{b}_ERR"]) if f"{b}_ERR" in row else np.nan for b in bands]
    return out


def mask_groups(model: Ojala) -> dict[str, list[str]]:
    """Named groups of observation tokens a user can hide: trays T1–T4, the J-PAS iSDSS
    magnitude, the Legacy/WISE broad bands (BB) and morphology."""
    vocab = model.vocabulary
    observed = [n for n in vocab.names if not vocab[n].is_label]
    groups = {tray: [b for b in TRAYS[tray] if b in vocab] for tray in TRAYS}
    broad = [n for n in vocab.broad_band_magnitudes if n in observed]
    groups["iSDSS"] = [n for n in broad if vocab[n].filter == "iSDSS"]
    groups["BB"] = [n for n in broad if vocab[n].filter != "iSDSS"]
    groups["MORPH"] = [n for n in observed if n == "MORPHTYPE"]
    return groups


def context_without(model: Ojala, hidden: Iterable[str]) -> list[str]:
    """Every observation token of the vocabulary except `hidden` (for `predict(context=...)`)."""
    hidden = set(hidden)
    vocab = model.vocabulary
    return [n for n in vocab.observations if n not in hidden]


def whatif_predict(model: Ojala, table: pd.DataFrame, hidden: Iterable[str],
                   targets: Iterable[str] | None = None) -> pd.DataFrame:
    """Predictions (default: the model's default targets) for the rows of `table` with `hidden` masked out."""
    pred, _ = predict(model, table, targets=targets, context=context_without(model, hidden), embeddings=False)
    return pred
