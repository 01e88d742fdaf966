"""Headline scores of a model on a labelled table (Test-Synth or Test-Real), as in the paper's Sect. 4.

Predicts every default target of the model from the observations only and scores them with
`scoring.headline_scores`, the scorer the training hook, the model card and the validation
report share. Not for the full validation report (see `ojala_core.validation`).
"""
from __future__ import annotations

import pandas as pd

from .model.inference import predict
from .model.pretrained import Ojala
from .scoring import headline_scores

__all__ = ["evaluate_table"]


def evaluate_table(model: Ojala, frame: pd.DataFrame, mag_limit: float = 21.0) -> dict:
    """Scores of `model` on the objects of `frame` brighter than `mag_limit` in MAG_i."""
    sel = frame[frame["MAG_i"] < mag_limit].reset_index(drop=True)
    pred, _ = predict(model, sel, targets=model.vocabulary.targets, batch_size=512, embeddings=False)
    return {**headline_scores(sel, pred, model.vocabulary), "mag_limit": mag_limit}
