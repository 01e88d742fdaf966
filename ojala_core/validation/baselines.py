"""Gradient-boosted-trees baseline: one scikit-learn HistGradientBoosting model per target, trained on the mocks.

Features are the observations of the vocabulary (narrow-band ratios, magnitudes, morphology as a
category; missing stays NaN, which the trees route natively), targets the labels OJALA predicts,
each fitted on the training objects of the classes it applies to and in the vocabulary's
transform (asinh for EWs). Predictions come back in the form of `predictions`, so the same
scoring serves both. Not for LePHARE (see `lephare`).
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from ..vocabulary import CLASS, TRANSFORMS, Vocabulary

__all__ = ["HGBBaseline", "hgb_feature_names"]

log = logging.getLogger(__name__)


def hgb_feature_names(vocabulary: Vocabulary) -> list[str]:
    """Feature columns: every observation token of the vocabulary (no label), in vocabulary order."""
    return vocabulary.observations


class HGBBaseline:
    """A HistGradientBoosting classifier for SPECTYPE and a regressor per physical target.

    Parameters
    ----------
    vocabulary : Vocabulary
    targets : label tokens (and extra label columns such as LOG_MBH) to fit; default the
        vocabulary's default targets
    max_iter : boosting iterations per model
    max_train_rows : train on a random subset of at most this many rows per target (None: all)
    seed : int
    """

    def __init__(self, vocabulary: Vocabulary, targets=None, max_iter: int = 200,
                 max_train_rows: int | None = None, seed: int = 0):
        self.vocabulary = vocabulary
        self.targets = list(vocabulary.targets if targets is None else targets)
        self.max_iter = max_iter
        self.max_train_rows = max_train_rows
        self.seed = seed
        self.features = hgb_feature_names(vocabulary)
        self.models: dict = {}
        self.n_train: dict[str, int] = {}
        self.seconds = 0.0

    def _design(self, table: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for name in self.features:
            token = self.vocabulary[name]
            if name not in table:
                columns[name] = np.full(len(table), np.nan)
            elif token.kind == CLASS:
                lookup = {c: float(k) for k, c in enumerate(token.categories)}
                columns[name] = table[name].map(lambda v: lookup.get(v, np.nan)).to_numpy(float)
            else:
                columns[name] = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
        return pd.DataFrame(columns, index=table.index)

    def _rows(self, table: pd.DataFrame, target: str) -> np.ndarray:
        # Objects of the classes a label applies to; a column outside the vocabulary (e.g. LOG_MBH)
        # is fitted on every object that has it.
        rows = np.ones(len(table), dtype=bool)
        applies = self.vocabulary[target].applies_to if target in self.vocabulary else ()
        if applies:
            rows &= table["SPECTYPE"].isin(applies).to_numpy()
        if target in self.vocabulary and self.vocabulary[target].kind == CLASS:
            rows &= table[target].isin(self.vocabulary[target].categories).to_numpy()
        else:
            rows &= np.isfinite(pd.to_numeric(table[target], errors="coerce").to_numpy(float))
        index = np.flatnonzero(rows)
        if self.max_train_rows and len(index) > self.max_train_rows:
            index = np.sort(np.random.default_rng(self.seed).choice(index, self.max_train_rows, replace=False))
        return index

    def fit(self, train: pd.DataFrame) -> "HGBBaseline":
        """Fit every target present in `train` with at least 20 labelled objects."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        t0 = time.time()
        x = self._design(train)
        categorical = [self.vocabulary[n].kind == CLASS for n in self.features]
        options = dict(max_iter=self.max_iter, random_state=self.seed, categorical_features=categorical,
                       early_stopping=False)
        for target in self.targets:
            if target not in train:
                continue
            rows = self._rows(train, target)
            if len(rows) < 20:
                log.info("HGB baseline: %s has %d labelled training objects, not fitted", target, len(rows))
                continue
            if target in self.vocabulary and self.vocabulary[target].kind == CLASS:
                model = HistGradientBoostingClassifier(**options)
                model.fit(x.iloc[rows], train[target].to_numpy()[rows])
            else:
                forward, _ = TRANSFORMS[self._transform(target)]
                model = HistGradientBoostingRegressor(**options)
                model.fit(x.iloc[rows], forward(train[target].to_numpy(float)[rows]))
            self.models[target], self.n_train[target] = model, len(rows)
        self.seconds = time.time() - t0
        return self

    def _transform(self, target: str) -> str:
        return self.vocabulary[target].transform if target in self.vocabulary else "identity"

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """Predictions in the `predict` form: class and probabilities, values, ``_ERR`` NaN (trees give none)."""
        x = self._design(table)
        out = pd.DataFrame(index=table.index)
        for target, model in self.models.items():
            if hasattr(model, "classes_"):
                proba = model.predict_proba(x)
                out[target] = model.classes_[np.argmax(proba, axis=1)]
                for k, cls in enumerate(model.classes_):
                    out[f"P_{target}_{cls}"] = proba[:, k]
            else:
                _, inverse = TRANSFORMS[self._transform(target)]
                out[target] = inverse(model.predict(x))
                out[f"{target}_ERR"] = np.nan
        return out

    def settings(self) -> dict:
        """What was fitted, for the report."""
        return {"max_iter": self.max_iter, "max_train_rows": self.max_train_rows, "n_features": len(self.features),
                "n_train": dict(self.n_train), "seconds": round(self.seconds, 1)}
