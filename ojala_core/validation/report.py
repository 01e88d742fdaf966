"""Build the validation report of a VAC: Test-Real and Test-Synth scores, baselines, figures, metrics.json, index.html.

Test-Real with the full context is read from the VAC (joined to the mocks' test_real table by
JPAS_ID); every other prediction (other input contexts, Test-Synth, hidden line bands, the
fine-tuned BH mass) runs the model on the mock tables. Not for producing the VAC.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..calibration import Calibration, calibration_scores
from ..comparison import PAPER, PAPER_NOTES, comparison_rows
from ..io.files import write_json
from ..io.tables import InputError
from ..metrics import regression_summary
from ..model.inference import predict
from ..model.pretrained import Ojala
from ..scoring import Selection, classification_scores, log_ew_scores, score_sample
from ..train.finetune import finetune_head
from ..train.run import read_split
from ..zero_points import ZERO_POINTS_FILE, ZeroPoints
from . import lephare as lephare_mod
from .baselines import HGBBaseline
from .figures import draw_sample_figures
from .html import write_html
from .predictions import (
    CONTEXTS,
    context_tokens,
    masked_line_predictions,
    model_predictions,
    truth_predictions,
    vac_predictions,
    with_derived,
)

__all__ = ["build_report", "resolve_model_dir", "SAMPLES", "BH_MASS_TARGET"]

log = logging.getLogger(__name__)

SAMPLES = ("test_real", "test_synth")
BH_MASS_TARGET = "LOG_MBH"


def resolve_model_dir(vac_dir, model_dir=None) -> Path:
    """The model folder: `model_dir` if given, else the one named in VACDIR/manifest.json (as given, or
    relative to the VAC's parent folder)."""
    if model_dir is not None:
        return Path(model_dir)
    manifest = Path(vac_dir) / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: not found (is {vac_dir} a VAC made by 'ojala vac'?)")
    named = Path(json.loads(manifest.read_text())["model"])
    for candidate in (named, Path(vac_dir).parent / named):
        if (candidate / "config.json").exists():
            return candidate
    raise FileNotFoundError(f"{manifest}: its model '{named}' is not found; give --model")


def _check_zero_points(vac_dir, mock_dir) -> str | None:
    """The zero-point file Test-Real was calibrated with; refuses a VAC whose catalogue was not put on
    the synthetic system with the same offsets (its Test-Real rows would not be the mocks' Test-Real).
    The mocks' offsets are those recorded in their manifest when Test-Real was written."""
    path = Path(mock_dir) / ZERO_POINTS_FILE
    recorded = json.loads((Path(mock_dir) / "manifest.json").read_text()).get("zero_points") or {}
    mocks = recorded.get("offsets", ZeroPoints.load(path).offsets if path.exists() else None)
    vac = (json.loads((Path(vac_dir) / "manifest.json").read_text()).get("zero_points") or {}).get("offsets")

    def applied(offsets):                   # an offset of 0 changes nothing
        return {k: v for k, v in (offsets or {}).items() if v}
    if applied(mocks) != applied(vac):
        made = "without zero points" if not applied(vac) else "with other zero points than the mocks'"
        test_real = f"with {path}" if applied(mocks) else "without zero points"
        fix = f"with --zero-points {path}" if applied(mocks) else "without --zero-points"
        raise InputError(f"{vac_dir}: the VAC was made {made}, the mocks' Test-Real {test_real}: their photometry "
                         f"differs — make the VAC again {fix} (into a new --out)")
    return str(path) if applied(mocks) else None


def _bh_mass_head(model: Ojala, train: pd.DataFrame, steps: int, seed: int) -> dict:
    if BH_MASS_TARGET in model.heads:
        return {"finetuned_here": False, "head": "from the model"}
    if BH_MASS_TARGET not in train or train[BH_MASS_TARGET].notna().sum() < 10:
        return {"finetuned_here": False, "head": None,
                "reason": f"fewer than 10 training objects with {BH_MASS_TARGET}"}
    t0 = time.time()
    info = finetune_head(model, train, BH_MASS_TARGET, steps=steps, seed=seed)
    return {"finetuned_here": True, "head": "fitted on the mocks' train split", "steps": steps,
            "seconds": round(time.time() - t0, 1), **info}


def _ojala_predictions(sample, table, model, vac_dir) -> tuple[pd.DataFrame, dict]:
    if sample == "test_real":
        pred = vac_predictions(vac_dir, table["JPAS_ID"]).set_axis(table.index)
        matched = int(pred["SPECTYPE"].notna().sum())
        if matched == 0:
            raise InputError(f"{vac_dir}: none of the {len(table)} Test-Real objects (JPAS_ID) is in the VAC; "
                             "was the VAC made from the J-PAS catalogue the mocks were cross-matched with?")
        source = {"source": "VAC", "matched": matched, "not_in_vac": int(len(table) - matched)}
    else:
        pred = model_predictions(model, table)
        source = {"source": "model on the mock table", "matched": int(len(table)), "not_in_vac": 0}
    if BH_MASS_TARGET in model.heads:
        extra, _ = predict(model, table, targets=[BH_MASS_TARGET], batch_size=512, embeddings=False)
        pred[BH_MASS_TARGET] = extra[BH_MASS_TARGET].to_numpy()
        pred[f"{BH_MASS_TARGET}_ERR"] = extra[f"{BH_MASS_TARGET}_ERR"].to_numpy()
    return pred, source


def _applied_calibration(sample, model, vac_dir) -> Calibration | None:
    """The calibration `sample`'s OJALA predictions went through: the VAC's record for Test-Real."""
    if sample != "test_real":
        return model.calibration
    record = json.loads((Path(vac_dir) / "manifest.json").read_text()).get("calibration")
    return None if record is None else Calibration(record["sigma_scale"], record["temperature"])


def _context_scores(model, table, sel, classes, min_count) -> dict:
    out = {}
    for name in CONTEXTS:
        if name == "full":
            continue
        pred = model_predictions(model, table, context=context_tokens(model.vocabulary, name), targets=["SPECTYPE"])
        out[name] = classification_scores(table["SPECTYPE"], pred["SPECTYPE"], classes, sel.mag, sel.bright,
                                          min_count)
        out[name]["tokens"] = len(context_tokens(model.vocabulary, name) or [])
    return out


def _masked_lines(model, table, sel, ojala: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Table 1: each EW predicted with its line's bands hidden, and with the full context on the same galaxies."""
    rows = sel.galaxy & sel.bright & np.isfinite(table["Z_GAL"].to_numpy(float))
    masked = pd.DataFrame(index=table.index)
    sub = table[rows]
    pred, hidden = masked_line_predictions(model, sub, sub["Z_GAL"].to_numpy(float))
    scores = {}
    for token in pred.columns:
        # Only galaxies whose line falls in a narrow band are scored: elsewhere nothing is hidden.
        counts = np.zeros(len(table), dtype=int)
        counts[rows] = [len(h) for h in hidden[token]]
        covered = counts > 0
        masked[token] = np.nan
        masked.loc[covered, token] = pred.loc[covered[rows], token].to_numpy()
        scores[token] = log_ew_scores(masked[token], table[token], covered)
        scores[token]["full_context"] = log_ew_scores(ojala[token], table[token], covered)
        scored = covered & (table[token].to_numpy(float) > 0)
        scores[token]["mean_bands_hidden"] = float(counts[scored].mean()) if scored.any() else math.nan
        scores[token]["n_no_band_covering"] = int((rows & ~covered).sum())
    return scores, masked


def _lephare_subset(table: pd.DataFrame, mag_limit: float, n_max: int, seed: int) -> np.ndarray:
    """JPAS_IDs of at most `n_max` random galaxies with i < mag_limit and a redshift (same for both samples)."""
    ok = (table["SPECTYPE"] == "GALAXY") & (table["MAG_i"] < mag_limit) & table["Z_GAL"].notna()
    ids = table.loc[ok, "JPAS_ID"].astype(str).to_numpy()
    if len(ids) > n_max:
        ids = np.random.default_rng(seed).choice(ids, n_max, replace=False)
    return np.sort(ids)


def _bluest_bands(table: pd.DataFrame, bands) -> np.ndarray:
    """Per row, the bluest narrow band with a positive flux (what LePHARE was given first)."""
    given = table[bands].to_numpy(float) > 0
    first = np.argmax(given, axis=1)
    return np.where(given.any(axis=1), np.asarray(bands)[first], "")


def _lephare_block(table, ids, preds, work_dir, vocabulary, settings) -> dict:
    rows = table["JPAS_ID"].astype(str).isin(ids).to_numpy()
    t0 = time.time()
    result = lephare_mod.run_lephare(table[rows], work_dir, vocabulary, settings)
    z_true = table.loc[rows, "Z_GAL"].to_numpy(float)
    removed = [[b for b in text.split(",") if b] for text in result["REMOVED_BANDS"]]
    counts = pd.Series([b for bands_ in removed for b in bands_], dtype=object).value_counts()
    bluest = _bluest_bands(table[rows], vocabulary.narrow_bands)
    return {"photoz": {"galaxy": regression_summary(result["Z_LEPHARE"], z_true, redshift=True)},
            "same_objects": {name: regression_summary(p.loc[rows, "Z_GAL"], z_true, redshift=True)
                             for name, p in preds.items()},
            "n_objects": int(rows.sum()), "n_failed": int(result["Z_LEPHARE"].isna().sum()),
            "fraction_with_removed_band": float(np.mean([len(r) > 0 for r in removed])) if removed else math.nan,
            "fraction_bluest_band_removed": float(np.mean([b in r for b, r in zip(bluest, removed)]))
            if removed else math.nan,
            "most_removed_bands": {str(k): int(v) for k, v in counts.head(5).items()},
            "seconds": round(time.time() - t0, 1)}


def _score_sample(sample, table, model, vac_dir, hgb, classes, mag_limit, min_count) -> dict:
    """Predictions and sections of OJALA and HGB on one sample."""
    ojala, source = _ojala_predictions(sample, table, model, vac_dir)
    vocabulary = model.vocabulary
    truth = truth_predictions(table, vocabulary)
    sel = Selection.build(table, ojala, mag_limit)
    sections = score_sample(table, truth, ojala, sel, classes, min_count, vocabulary)
    sections["classification"].update(_context_scores(model, table, sel, classes, min_count))
    sections["masked_lines"], masked = _masked_lines(model, table, sel, ojala)
    sections["calibration"] = calibration_scores(table[sel.bright], ojala[sel.bright], vocabulary,
                                                 _applied_calibration(sample, model, vac_dir))
    sections["source"] = {**source, "n_objects": int(len(table)), "n_bright": int(sel.bright.sum())}
    preds = {"ojala": ojala}
    hgb_sections = None
    if hgb is not None:
        preds["hgb"] = with_derived(hgb.predict(table), table)
        hgb_sections = score_sample(table, truth, preds["hgb"], sel, classes, min_count, vocabulary)
    return {"ojala": sections, "hgb": hgb_sections, "preds": preds, "truth": truth, "sel": sel, "masked": masked}


def build_report(vac_dir, mock_dir, out_dir, model_dir=None, mag_limit: float = 21.0, min_count: int = 100,
                 lephare: bool = True, lephare_max: int = 300, lephare_work=None, lephare_settings=None,
                 hgb: bool = True,
                 hgb_max_iter: int = 200, hgb_max_train_rows: int | None = None, finetune_steps: int = 2000,
                 seed: int = 0) -> dict:
    """Write ``index.html``, figures and ``metrics.json`` into `out_dir`; returns the metrics.

    Parameters
    ----------
    vac_dir : VAC folder (``catalogue/part-*.parquet`` + ``manifest.json``)
    mock_dir : mock folder with ``train``, ``test_real`` and ``test_synth`` Parquet tables
    model_dir : model folder (default: the one named in the VAC's manifest)
    mag_limit : global metrics use objects with MAG_i < mag_limit [AB]
    min_count : fewest objects in a sliding bin (the paper: 100)
    lephare, lephare_max, lephare_work : run LePHARE (when available) on at most `lephare_max` random
        galaxies with i < mag_limit, building its libraries in `lephare_work` (default OUT/lephare-work)
    lephare_settings : LePHARE keywords overriding `lephare.LEPHARE_SETTINGS`
    hgb, hgb_max_iter, hgb_max_train_rows : the gradient-boosted-trees baseline
    finetune_steps : steps of the LOG_MBH head when the model has none
    """
    t0 = time.time()
    out_dir = Path(out_dir)
    model_dir = resolve_model_dir(vac_dir, model_dir)
    model = Ojala.from_pretrained(model_dir)
    zero_points = _check_zero_points(vac_dir, mock_dir)
    train = read_split(mock_dir, "train")
    tables = {sample: read_split(mock_dir, sample) for sample in SAMPLES}
    classes = list(model.vocabulary["SPECTYPE"].categories)
    bh = _bh_mass_head(model, train, finetune_steps, seed)
    # The trees answer what OJALA answers: its default targets and the fine-tuned BH mass.
    baseline = HGBBaseline(model.vocabulary, targets=model.vocabulary.targets + [BH_MASS_TARGET],
                           max_iter=hgb_max_iter, max_train_rows=hgb_max_train_rows,
                           seed=seed).fit(train) if hgb else None
    available, reason = lephare_mod.lephare_status() if lephare else (False, "switched off (--no-lephare)")
    lephare_ids = _lephare_subset(tables["test_real"], mag_limit, lephare_max, seed) if available else None
    work = Path(lephare_work) if lephare_work else out_dir / "lephare-work"
    metrics = {"meta": {"version": __version__, "vac": str(vac_dir), "mocks": str(mock_dir), "model": str(model_dir),
                        "mag_limit": mag_limit, "min_count": min_count, "seed": seed, "bh_mass": bh,
                        "zero_points": zero_points},
               "baselines": {"hgb": {"settings": baseline.settings() if baseline else None},
                             "lephare": {"available": available, "reason": reason,
                                         "settings": {**lephare_mod.LEPHARE_SETTINGS, **(lephare_settings or {})},
                                         "max_objects": lephare_max}},
               "paper": {**PAPER, "notes": PAPER_NOTES}, "comparison": {}}
    figures = {}
    for sample, table in tables.items():
        log.info("scoring %s (%d objects)", sample, len(table))
        result = _score_sample(sample, table, model, vac_dir, baseline, classes, mag_limit, min_count)
        metrics[sample] = result["ojala"]
        metrics["baselines"]["hgb"][sample] = result["hgb"]
        block = None
        if available:
            try:
                block = _lephare_block(table, lephare_ids, result["preds"], work, model.vocabulary, lephare_settings)
                metrics["baselines"]["lephare"][sample] = block
            except Exception as exc:  # an optional external code: its failure is reported, not fatal
                log.warning("LePHARE failed on %s: %s", sample, exc)
                available, reason = False, f"failed: {exc.__class__.__name__}: {exc}"
                metrics["baselines"]["lephare"].update(available=False, reason=reason)
        metrics["comparison"][sample] = comparison_rows(result["ojala"], result["hgb"], block)
        figures[sample] = draw_sample_figures(out_dir / "figures", sample, table, result["truth"], result["preds"],
                                              result["masked"], {"ojala": result["ojala"], "hgb": result["hgb"]},
                                              result["sel"])
    metrics["meta"]["seconds"] = round(time.time() - t0, 1)
    metrics = _json_safe(metrics)
    write_json(out_dir / "metrics.json", metrics)
    write_html(out_dir / "index.html", metrics, figures)
    return metrics


def _json_safe(value):
    """NaN and inf become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
