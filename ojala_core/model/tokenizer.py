"""Tables ↔ token tensors: transforms, standardisation with training-set statistics, categories.

A row of a mock/VAC table becomes, for every vocabulary token, a normalised value, a
normalised error and a presence flag; missing values are simply absent. Not for choosing
which tokens are context or target (see `ojala_core.train.masking`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..vocabulary import CLASS, MAGNITUDE, TRANSFORMS, Vocabulary

__all__ = ["Normalisation", "Tokenizer", "TokenTable", "TokenStatics"]

_LOG_LAMBDA_RANGE = (np.log10(3000.0), np.log10(60000.0))


@dataclass
class TokenTable:
    """Token values of N objects over the T vocabulary tokens.

    values : (N, T) float32   standardised value (category index for class tokens)
    errors : (N, T) float32   standardised 1σ error (0 where unknown)
    present : (N, T) bool
    """

    values: torch.Tensor
    errors: torch.Tensor
    present: torch.Tensor

    def __len__(self):
        return self.values.shape[0]

    def subset(self, index) -> "TokenTable":
        return TokenTable(self.values[index], self.errors[index], self.present[index])


@dataclass
class Normalisation:
    """Per-token mean and std in transformed space, fitted on the synthetic training set."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, frame: pd.DataFrame, vocabulary: Vocabulary) -> "Normalisation":
        mean = np.zeros(len(vocabulary))
        std = np.ones(len(vocabulary))
        for i, token in enumerate(vocabulary.tokens):
            if token.kind == CLASS or token.name not in frame:
                continue
            forward, _ = TRANSFORMS[token.transform]
            values = forward(pd.to_numeric(frame[token.name], errors="coerce").to_numpy(float))
            values = values[np.isfinite(values)]
            if values.size >= 2:
                mean[i] = values.mean()
                std[i] = max(values.std(), 1e-6)
        return cls(mean, std)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d) -> "Normalisation":
        return cls(np.asarray(d["mean"], dtype=float), np.asarray(d["std"], dtype=float))


@dataclass
class TokenStatics:
    """Fixed per-token properties used by the network (all shape (T,))."""

    is_class: torch.Tensor           # bool
    category_offset: torch.Tensor    # long: first row of the token's categories
    n_categories: torch.Tensor       # long
    log_wavelength: torch.Tensor     # float: log10 pivot scaled to [0, 1] (0 if not photometric)
    is_narrow: torch.Tensor          # bool
    is_photometric: torch.Tensor     # bool
    is_label: torch.Tensor           # bool

    @classmethod
    def from_vocabulary(cls, vocabulary: Vocabulary) -> "TokenStatics":
        offsets, counts, offset = [], [], 0
        for t in vocabulary.tokens:
            offsets.append(offset)
            counts.append(len(t.categories))
            offset += len(t.categories)
        lo, hi = _LOG_LAMBDA_RANGE
        loglam = [(np.log10(t.pivot_wavelength) - lo) / (hi - lo) if t.is_photometric else 0.0
                  for t in vocabulary.tokens]
        return cls(
            is_class=torch.tensor([t.kind == CLASS for t in vocabulary.tokens]),
            category_offset=torch.tensor(offsets), n_categories=torch.tensor(counts),
            log_wavelength=torch.tensor(loglam, dtype=torch.float32),
            is_narrow=torch.tensor([t.narrow for t in vocabulary.tokens]),
            is_photometric=torch.tensor([t.is_photometric for t in vocabulary.tokens]),
            is_label=torch.tensor([t.is_label for t in vocabulary.tokens]),
        )

    @property
    def total_categories(self) -> int:
        return int(self.n_categories.sum())


class Tokenizer:
    """Encode tables into `TokenTable` and decode predictions back to physical units."""

    def __init__(self, vocabulary: Vocabulary, normalisation: Normalisation):
        self.vocabulary = vocabulary
        self.normalisation = normalisation

    def encode(self, frame: pd.DataFrame) -> TokenTable:
        """Tokens of every row; columns a table lacks are absent tokens.

        A value column is the token name, its 1σ error ``NAME_ERR`` (optional).
        Class tokens take category names (unknown or missing names are absent).
        """
        n, t = len(frame), len(self.vocabulary)
        values = np.zeros((n, t), dtype=np.float32)
        errors = np.zeros((n, t), dtype=np.float32)
        present = np.zeros((n, t), dtype=bool)
        for i, token in enumerate(self.vocabulary.tokens):
            if token.name not in frame:
                continue
            column = frame[token.name]
            if token.kind == CLASS:
                lookup = {c: k for k, c in enumerate(token.categories)}
                idx = column.map(lambda v: lookup.get(v, -1) if isinstance(v, str) else -1).to_numpy()
                present[:, i] = idx >= 0
                values[:, i] = np.maximum(idx, 0)
                continue
            forward, _ = TRANSFORMS[token.transform]
            raw = pd.to_numeric(column, errors="coerce").to_numpy(float)
            if token.kind == MAGNITUDE:  # 99 / -99 sentinels of catalogues are missing values
                raw = np.where((raw > 0) & (raw < 40), raw, np.nan)
            z = (forward(raw) - self.normalisation.mean[i]) / self.normalisation.std[i]
            ok = np.isfinite(z)
            present[:, i] = ok
            values[ok, i] = z[ok]
            if f"{token.name}_ERR" in frame:
                err = pd.to_numeric(frame[f"{token.name}_ERR"], errors="coerce").to_numpy(float)
                err_t = self._transformed_error(token.transform, raw, err) / self.normalisation.std[i]
                good = ok & np.isfinite(err_t) & (err_t > 0)
                errors[good, i] = err_t[good]
        return TokenTable(torch.from_numpy(values), torch.from_numpy(errors), torch.from_numpy(present))

    @staticmethod
    def _transformed_error(transform, value, error):
        if transform == "asinh_ew":
            from ..vocabulary import EW_SCALE_ANGSTROM
            return error / np.sqrt(EW_SCALE_ANGSTROM ** 2 + value ** 2)
        return error

    def decode(self, token_index: int, mean, log_variance):
        """Physical mean and 1σ of a regression prediction given in standardised space.

        For transformed tokens (EWs) the predictive Gaussian lives in the transformed
        space; its mean is mapped back and σ is propagated to first order.
        """
        token = self.vocabulary.tokens[token_index]
        mu = np.asarray(mean, dtype=float) * self.normalisation.std[token_index] + self.normalisation.mean[token_index]
        sigma = np.exp(0.5 * np.asarray(log_variance, dtype=float)) * self.normalisation.std[token_index]
        _, inverse = TRANSFORMS[token.transform]
        value = inverse(mu)
        if token.transform == "asinh_ew":
            from ..vocabulary import EW_SCALE_ANGSTROM
            sigma = sigma * EW_SCALE_ANGSTROM * np.cosh(mu)
        return value, sigma
