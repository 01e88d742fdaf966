"""The masking game (paper Sect. 3, DESIGN §8): which tokens an object shows and which it must predict.

For every object: up to 5 targets drawn among its present tokens with inverse-frequency
weights (rare tokens are targeted more often); if any target is a physical label, every
label leaves the context (targets are inferred from observations and morphology only);
the context is a random subset of the rest, rare tokens masked less often, with at least
5 real tokens guaranteed. Two options of the training recipe (issue 15):
- label mode: a fraction of the objects are asked *every* label they have (the decoder's
  cross-attention answers extra queries for little cost), from observations only;
- context dropout: MORPHTYPE and the Legacy/WISE magnitudes leave the context of a fraction
  of the objects, so that the model also learns to work without them (catalogues without a
  Legacy match, or without MORPHTYPE at all).
Not for packing (see `ojala_core.model.packing`).
"""
from __future__ import annotations

import torch

__all__ = ["inverse_frequency_weights", "sample_masks", "MIN_CONTEXT", "N_TARGETS"]

MIN_CONTEXT = 5
N_TARGETS = 5


def inverse_frequency_weights(present: torch.Tensor) -> torch.Tensor:
    """Per-token weight ∝ 1 / (fraction of objects having the token), mean 1 over present tokens."""
    frequency = present.float().mean(0)
    weights = torch.where(frequency > 0, 1.0 / frequency.clamp(min=1e-6), torch.zeros_like(frequency))
    return weights / weights[frequency > 0].mean()


def sample_masks(present, is_label, token_weights, generator=None, n_targets=N_TARGETS, min_context=MIN_CONTEXT,
                 label_fraction=0.0, droppable=None, drop_fraction=0.0):
    """Context masks and target ids for a batch.

    Parameters
    ----------
    present : (B, T) bool      tokens the objects have
    is_label : (T,) bool       physical labels (mutually exclusive with label targets)
    token_weights : (T,) float inverse-frequency weights
    generator : torch.Generator, optional
    label_fraction : float     share of objects in label mode (every present label a target)
    droppable : (T,) bool, optional   tokens (MORPHTYPE, Legacy/WISE) that context dropout removes
    drop_fraction : float      share of objects whose context loses every `droppable` token

    Returns
    -------
    context : (B, T) bool      tokens shown to the encoder (≥ min_context per object that has targets)
    targets : (B, K) long      target token ids; K = n_targets, or more when a label-mode object has
                               more labels
    target_valid : (B, K) bool
    """
    b, t = present.shape
    observation = present & ~is_label
    n_obs = observation.sum(1)
    # Leave at least min_context observations in the context of every object.
    k = (n_obs - min_context).clamp(min=0, max=n_targets)
    label_mode = torch.zeros(b, dtype=torch.bool, device=present.device)
    if label_fraction > 0:              # no extra random draw otherwise: old recipes replay bit for bit
        label_mode = torch.rand(b, generator=generator, device=present.device) < label_fraction
        label_mode &= n_obs >= min_context
    labels_present = present & is_label[None, :]
    width = max(n_targets, int(labels_present[label_mode].sum(1).max())) if label_mode.any() else n_targets
    k = torch.where(label_mode, labels_present.sum(1), k)

    uniform = torch.rand((b, t), generator=generator, device=present.device).clamp(1e-9, 1 - 1e-9)
    gumbel = -torch.log(-torch.log(uniform))
    keys = torch.log(token_weights.clamp(min=1e-9))[None, :] + gumbel
    keys = torch.where(label_mode[:, None] & labels_present, keys + 1e4, keys)   # labels first, then the rest
    keys = keys.masked_fill(~present, float("-inf"))
    order = torch.argsort(keys, dim=1, descending=True)[:, :width]
    target_valid = torch.arange(width, device=present.device)[None, :] < k[:, None]
    chosen = torch.zeros_like(present)
    chosen.scatter_(1, order, target_valid)
    if droppable is not None and drop_fraction > 0:
        dropped = torch.rand(b, generator=generator, device=present.device) < drop_fraction
        present = present & ~(dropped[:, None] & droppable[None, :] & ~chosen)

    label_target = (chosen & is_label[None, :]).any(1)
    candidates = present & ~chosen & ~(label_target[:, None] & is_label[None, :])
    # Random context size; rare tokens (high weight) are dropped less often.
    keep_fraction = torch.rand((b, 1), generator=generator, device=present.device) * 0.7 + 0.3
    rarity = (token_weights / token_weights.max()).clamp(max=1.0)[None, :]
    keep_prob = 1.0 - (1.0 - keep_fraction) * (1.0 - rarity)
    u = torch.rand((b, t), generator=generator, device=present.device)
    u = u.masked_fill(~candidates, 2.0)
    rank = torch.argsort(torch.argsort(u, dim=1), dim=1)
    context = candidates & ((u < keep_prob) | (rank < min_context))
    return context, order, target_valid
