"""Predictions of every source in one form for the report: the VAC, the model on a mock table, the truth.

All three give a table with the columns of `ojala_core.model.inference.predict` (``SPECTYPE``,
``P_SPECTYPE_*``, each target and ``_ERR``) plus the derived VAC columns of
`ojala_core.vac.columns.derived_columns` (line ratios, L(Hα), BPT/WHAN classes), so that one
scoring function serves OJALA, the baselines and the truth. Also the input contexts of the
paper's Fig. 3 and the masked-line ("continuum only") experiment of its Table 1. Not for
scoring (see `scoring`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..filters import load_filter
from ..lines import EMISSION_LINES
from ..model.inference import predict
from ..model.pretrained import Ojala
from ..vac.columns import derived_columns, passive_threshold_of
from ..vocabulary import DEFAULT_VOCABULARY, REGRESSION, Vocabulary

__all__ = ["CONTEXTS", "context_tokens", "with_derived", "vac_predictions", "model_predictions", "truth_predictions",
           "line_filters", "hide_line_filters", "masked_line_predictions", "LINE_FILTER_THRESHOLD"]

# A narrow band "covers" a line when its transmission at the redshifted line is at least this
# fraction of its peak (J-PAS bands: FWHM ≈ 145 Å, 100 Å apart, so one or two bands per line).
LINE_FILTER_THRESHOLD = 0.05


def _morphology(v: Vocabulary) -> list[str]:
    return [n for n in v.classes if n in v.observations]


# The input contexts of the paper's Fig. 3, as functions of the vocabulary (None: every observation),
# and every observation but the morphology ("no_morph": a catalogue without the Legacy TYPE).
# "BB" are the broad-band magnitudes (iSDSS, Legacy g r z, WISE W1 W2).
CONTEXTS = {
    "full": lambda v: None,
    "no_morph": lambda v: [n for n in v.observations if n not in _morphology(v)],
    "no_T3_T4": lambda v: [n for n in v.observations if n not in v.tray("T3") + v.tray("T4")],
    "T1_BB_morph": lambda v: v.tray("T1") + v.broad_band_magnitudes + _morphology(v),
    "BB": lambda v: v.broad_band_magnitudes,
    "BB_morph": lambda v: v.broad_band_magnitudes + _morphology(v),
}


def context_tokens(vocabulary: Vocabulary, name: str) -> list[str] | None:
    """Token names the model may see in context `name` (a key of `CONTEXTS`); None means all."""
    if name not in CONTEXTS:
        raise KeyError(f"unknown context '{name}'; known: {', '.join(CONTEXTS)}")
    return CONTEXTS[name](vocabulary)


def with_derived(pred: pd.DataFrame, table: pd.DataFrame, passive_threshold: float | None = None) -> pd.DataFrame:
    """`pred` with the derived VAC columns (line fluxes and ratios, L(Hα), BPT/WHAN) from `table`'s MAG_i;
    `passive_threshold` is a model's WHAN decision threshold (see `derived_columns`)."""
    derived = derived_columns(pred, table["MAG_i"].to_numpy(float),
                              table["MAG_i_ERR"].to_numpy(float) if "MAG_i_ERR" in table else np.zeros(len(table)),
                              passive_threshold)
    return pd.concat([pred, pd.DataFrame(derived, index=pred.index)], axis=1)


def model_predictions(model: Ojala, table: pd.DataFrame, context=None, targets=None,
                      batch_size: int = 512) -> pd.DataFrame:
    """The model's predictions (default: its default targets; derived columns when all of those are asked)."""
    targets = list(model.vocabulary.targets if targets is None else targets)
    pred, _ = predict(model, table, targets=targets, context=context, batch_size=batch_size, embeddings=False)
    if not set(model.vocabulary.targets) <= set(targets):
        return pred
    return with_derived(pred, table, passive_threshold_of(model))


def _regression_targets(vocabulary: Vocabulary) -> list[str]:
    return [t for t in vocabulary.targets if vocabulary[t].kind == REGRESSION]


def vac_predictions(vac_dir, ids, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> pd.DataFrame:
    """The VAC's rows for object `ids` (JPAS_ID), renamed to the `predict` form; NaN where not in the VAC.

    The VAC names the class ``CLASS`` and its probabilities ``P_{CLASS}``; every other
    prediction and derived column keeps its name. Rows flagged as duplicates are skipped.
    """
    import pyarrow.parquet as pq

    vac_dir = Path(vac_dir)
    parts = sorted((vac_dir / "catalogue").glob("part-*.parquet"))
    if not parts:
        raise FileNotFoundError(f"{vac_dir / 'catalogue'}: no part-*.parquet files (is {vac_dir} a VAC?)")
    schema = pq.read_schema(parts[0])
    targets = vocabulary.targets
    wanted = set(targets) | {f"{t}_ERR" for t in targets} | set(_derived_names(vocabulary))
    columns = [c for c in schema.names if c in wanted or c.startswith("P_") or c in ("JPAS_ID", "CLASS")]
    vac = pd.concat([pd.read_parquet(p, columns=columns) for p in parts], ignore_index=True)
    vac["JPAS_ID"] = vac["JPAS_ID"].astype(str)
    vac = vac.drop_duplicates("JPAS_ID").set_index("JPAS_ID")
    rename = {"CLASS": "SPECTYPE", **{c: f"P_SPECTYPE_{c[2:]}" for c in vac.columns if c.startswith("P_")}}
    return vac.rename(columns=rename).reindex(pd.Index(np.asarray(ids).astype(str)))


def _derived_names(vocabulary: Vocabulary) -> list[str]:
    values = {f"{t}{s}": [1.0] for t in _regression_targets(vocabulary) for s in ("", "_ERR")}
    one = pd.DataFrame({"SPECTYPE": ["GALAXY"], **values})
    return list(derived_columns(one, np.array([20.0]), np.array([0.01])))


def truth_predictions(table: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> pd.DataFrame:
    """The DESI labels of `table` in the `predict` form, with derived columns computed from them.

    Label errors become the ``_ERR`` columns; the true line ratios, L(Hα) and BPT/WHAN classes
    therefore come from the same formulas (`ojala_core.derived`) as the predicted ones.
    """
    truth = pd.DataFrame(index=table.index)
    truth["SPECTYPE"] = table["SPECTYPE"]
    for name in _regression_targets(vocabulary):
        truth[name] = pd.to_numeric(table[name], errors="coerce")
        err = f"{name}_ERR"
        truth[err] = pd.to_numeric(table[err], errors="coerce") if err in table else np.nan
    return with_derived(truth, table)


def line_filters(line: str, z, vocabulary: Vocabulary, threshold: float = LINE_FILTER_THRESHOLD) -> list[list[str]]:
    """Per redshift, the narrow bands whose transmission at the redshifted `line` is ≥ `threshold` × peak.

    Parameters
    ----------
    line : a key of `ojala_core.lines.EMISSION_LINES` (e.g. 'HALPHA')
    z : array_like, redshifts
    """
    observed = EMISSION_LINES[line].wavelength * (1.0 + np.atleast_1d(np.asarray(z, dtype=float)))
    covered = []
    for band in vocabulary.narrow_bands:
        curve = load_filter(band)
        t = np.interp(observed, curve.wavelength, curve.response, left=0.0, right=0.0) / curve.response.max()
        covered.append(t >= threshold)
    covered = np.array(covered).T  # (n_objects, n_bands)
    bands = np.array(vocabulary.narrow_bands)
    return [list(bands[row]) for row in covered]


def hide_line_filters(table: pd.DataFrame, line: str, z, vocabulary: Vocabulary,
                      threshold: float = LINE_FILTER_THRESHOLD) -> tuple[pd.DataFrame, list[list[str]]]:
    """A copy of `table` where each row's bands covering its redshifted `line` are missing; and those bands."""
    hidden = line_filters(line, z, vocabulary, threshold)
    out = table.copy()
    for band in vocabulary.narrow_bands:
        rows = np.array([band in h for h in hidden])
        if rows.any():
            out.loc[rows, [band, f"{band}_ERR"]] = np.nan
    return out, hidden


def masked_line_predictions(model: Ojala, table: pd.DataFrame, z_true, threshold: float = LINE_FILTER_THRESHOLD,
                            batch_size: int = 512) -> tuple[pd.DataFrame, dict]:
    """Each line's EW predicted with the bands covering it (at the true redshift) hidden: Table 1's "continuum only".

    Returns
    -------
    predictions : DataFrame with one column per EW token
    hidden : dict EW token -> list (per row) of the hidden bands
    """
    pred, hidden = pd.DataFrame(index=table.index), {}
    for line, token in model.vocabulary.line_ew_tokens.items():
        masked, hidden[token] = hide_line_filters(table, line, z_true, model.vocabulary, threshold)
        p, _ = predict(model, masked, targets=[token], batch_size=batch_size, embeddings=False)
        pred[token] = p[token]
    return pred, hidden
