"""How much of a Test-Real score is the labels' own noise, on a synthetic sky that keeps its truth.

For each headline target at i < 21 (and the WHAN classes' F1): σ_NMAD of prediction − DESI label
(what `ojala evaluate` and the report quote), of DESI label − truth (the VACs' measurement noise the sky puts in) and of
prediction − truth (`SKY/truth.parquet`, matched by TARGETID), each through `scoring.headline_scores`.
A target whose label noise is as large as its quoted score cannot reach a smaller score against
those labels, however good the model. Real DESI labels have no truth: this is for the synthetic sky.

    python bench/label_noise.py [--sky data/sky-default] [--mocks data/mocks-default]
                                [--model models/ojala-small] [--split test_real]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ojala_core.metrics import regression_summary
from ojala_core.model.inference import predict
from ojala_core.model.pretrained import Ojala
from ojala_core.scoring import headline_scores, star_forming_subset, whan_scores
from ojala_core.train.run import read_split
from ojala_core.vac.columns import passive_threshold_of
from ojala_core.validation.predictions import truth_predictions, with_derived

ROOT = Path(__file__).resolve().parent.parent
SF_KEY = "LOGSFR_SF_err<0.5"                       # headline_scores' star-forming row


def truth_table(table: pd.DataFrame, truth: pd.DataFrame, vocabulary, positive_ews=True) -> pd.DataFrame:
    """`table` with each label replaced by the sky's true value where the label is scored: present, and
    for EWs positive when `positive_ews` (log EWs are scored where the reference EW > 0; without this rule
    the truth would add the galaxies with EWs near 0 that the labels' noise drops, and the rows would
    compare other objects; the WHAN classes need every EW)."""
    out = table.copy()
    rows = truth.set_index("TARGETID").reindex(table["TARGETID"].to_numpy())
    for name in vocabulary.targets:
        source = "Z" if vocabulary[name].is_redshift else name
        if name not in table or source not in rows:
            continue
        present = table[name].notna().to_numpy().copy()
        if positive_ews and vocabulary[name].transform == "asinh_ew":
            present &= pd.to_numeric(table[name], errors="coerce").to_numpy(float) > 0
        out[name] = np.where(present, rows[source].to_numpy(), None if table[name].dtype == object else np.nan)
    return out


def _sigma(entry):
    if not isinstance(entry, dict):
        return entry
    return entry.get("sigma_nmad")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sky", default=str(ROOT / "data" / "sky-default"))
    parser.add_argument("--mocks", default=str(ROOT / "data" / "mocks-default"))
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--split", default="test_real", choices=["test_real", "test_synth"])
    parser.add_argument("--mag-limit", type=float, default=21.0)
    args = parser.parse_args()
    t0 = time.time()
    model = Ojala.from_pretrained(args.model)
    vocab = model.vocabulary
    table = read_split(args.mocks, args.split)
    table = table[table["MAG_i"] < args.mag_limit].reset_index(drop=True)
    columns = ["TARGETID", "Z", "SPECTYPE", *[t for t in vocab.targets if not vocab[t].is_redshift and t != "SPECTYPE"]]
    truth = pd.read_parquet(Path(args.sky) / "truth.parquet", columns=columns)
    truth = truth[truth["TARGETID"] >= 0].drop_duplicates("TARGETID")
    true = truth_table(table, truth, vocab)
    pred, _ = predict(model, table, targets=vocab.targets, batch_size=512, embeddings=False)
    labels = table[[t for t in vocab.targets if t in table] + ["LOGSFR_ERR"]]
    scores = {"prediction − label": headline_scores(table, pred, vocab),
              "label − truth": headline_scores(true, labels, vocab),
              "prediction − truth": headline_scores(true, pred, vocab)}
    # The star-forming sample depends on its reference's EW(Hα): fix it once (the labels' sample, as the
    # report's) so that the three columns of that row score the same galaxies.
    sf = star_forming_subset(table, pred)
    for name, (guess, reference) in {"prediction − label": (pred, table), "label − truth": (labels, true),
                                     "prediction − truth": (pred, true)}.items():
        scores[name][SF_KEY] = regression_summary(guess["LOGSFR"].to_numpy(float)[sf],
                                                  pd.to_numeric(reference["LOGSFR"]).to_numpy(float)[sf])
    keys = [k for k in scores["prediction − label"] if k not in ("n_objects", "weighted_f1")]
    print(f"{args.split}, i < {args.mag_limit:g}: {len(table):,} objects; model {args.model}; "
          f"truth {args.sky}/truth.parquet; {time.time() - t0:.0f} s\n")
    print("| target (σ_NMAD) | prediction − label | label − truth | prediction − truth | n |")
    print("|---|---|---|---|---|")
    for key in keys:
        cells = [_sigma(scores[name].get(key)) for name in scores]
        n = scores["prediction − label"][key].get("n") if isinstance(scores["prediction − label"][key], dict) else ""
        print(f"| {key} | " + " | ".join("–" if c is None else f"{c:.4g}" for c in cells) + f" | {n} |")
    print(f"| weighted F1 (SPECTYPE) | {scores['prediction − label']['weighted_f1']:.4f} | "
          f"{scores['label − truth']['weighted_f1']:.4f} | {scores['prediction − truth']['weighted_f1']:.4f} | |")
    # WHAN classes (S06 cut) from the labels, the truth and the model (its calibrated passive decision).
    from_labels = truth_predictions(table, vocab)
    from_truth = truth_predictions(truth_table(table, truth, vocab, positive_ews=False), vocab)
    from_model = with_derived(pred, table, passive_threshold_of(model))
    galaxies = table["SPECTYPE"].to_numpy() == "GALAXY"
    whan = {"prediction − label": whan_scores(from_labels, from_model, galaxies),
            "label − truth": whan_scores(from_truth, from_labels, galaxies),
            "prediction − truth": whan_scores(from_truth, from_model, galaxies)}
    for cls in ("PASSIVE", "SF", "AGN"):
        cells = [whan[name]["S06"]["classes"][cls]["f1"] for name in whan]
        print(f"| WHAN F1 {cls} (S06) | " + " | ".join(f"{c:.3f}" for c in cells)
              + f" | {whan['prediction − label']['S06']['n']} |")


if __name__ == "__main__":
    main()
