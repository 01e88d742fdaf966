"""Vocabulary expansion: add tokens (a new band, a new label) to a trained model, keeping every trained weight.

Token ids of the old vocabulary are unchanged; the new rows of the token, category and
class-head tables start from the mean of the trained rows. Not for training the new
tokens (fine-tune or continue training afterwards).
"""
from __future__ import annotations

import numpy as np
import torch

from ..vocabulary import Token
from .pretrained import Ojala
from .tokenizer import Normalisation

__all__ = ["expand_vocabulary"]


def expand_vocabulary(model: Ojala, tokens: list[Token], statistics: dict | None = None) -> Ojala:
    """A new model whose vocabulary is the old one plus `tokens`.

    Parameters
    ----------
    model : Ojala
    tokens : list of Token
    statistics : dict name -> (mean, std), optional
        Normalisation of the new tokens in their transformed space (default 0, 1).
    """
    statistics = statistics or {}
    vocabulary = model.vocabulary.with_tokens(tokens)
    mean = np.r_[model.normalisation.mean, [statistics.get(t.name, (0.0, 1.0))[0] for t in tokens]]
    std = np.r_[model.normalisation.std, [statistics.get(t.name, (0.0, 1.0))[1] for t in tokens]]
    bigger = Ojala(model.config, vocabulary, Normalisation(mean, std))
    old_state = model.state_dict()
    new_state = bigger.state_dict()
    for name, value in new_state.items():
        old = old_state.get(name)
        if old is None:
            continue
        if old.shape == value.shape:
            new_state[name] = old.clone()
        elif old.dim() >= 1 and old.shape[1:] == value.shape[1:] and old.shape[0] < value.shape[0]:
            # Tables indexed by token or category: keep the trained rows, start new ones at their mean.
            grown = old.mean(0, keepdim=True).expand(value.shape[0] - old.shape[0], *old.shape[1:])
            new_state[name] = torch.cat([old, grown.clone()])
        else:
            raise ValueError(f"cannot expand parameter '{name}' from {tuple(old.shape)} to {tuple(value.shape)}")
    bigger.load_state_dict(new_state)
    for name, head in model.heads.items():
        bigger.add_head(name, head)
    bigger.info = {**model.info, "expanded_with": [t.name for t in tokens]}
    return bigger
