"""Pack per-vocabulary token tables into padded (B, L) sequences for the network.

Not for deciding which tokens are present or hidden (masks come from the caller).
"""
from __future__ import annotations

import torch

__all__ = ["pack_tokens"]


def pack_tokens(mask, values, errors):
    """Token ids, values, errors and validity of the tokens selected by `mask`.

    Parameters
    ----------
    mask : (B, T) bool
        Tokens to include for each object.
    values, errors : (B, T) float

    Returns
    -------
    ids, values, errors : (B, L) with L = max tokens per row (at least 1)
    valid : (B, L) bool, False on padding
    """
    t = mask.shape[1]
    length = max(int(mask.sum(1).max()), 1) if mask.numel() else 1
    # Stable sort puts the selected token ids first, in vocabulary order.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :length]
    valid = mask.gather(1, order)
    ids = torch.where(valid, order, torch.zeros_like(order)).clamp(max=t - 1)
    return ids, values.gather(1, ids) * valid, errors.gather(1, ids) * valid, valid
