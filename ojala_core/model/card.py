"""Model card of a trained model: data, command, seed, scores against the paper's, limitations.

Written from the model's own record (``config.json`` info) and measured scores; nothing
in it is typed by hand; its rows follow the model's vocabulary. Not for computing the
scores (see `ojala_core.scoring`).
"""
from __future__ import annotations

from pathlib import Path

from ..io.files import atomic_path
from ..paper import paper_value
from ..scoring import headline_token
from .pretrained import Ojala

__all__ = ["write_model_card"]

LIMITATIONS = """\
- Trained on the embedded *synthetic* sky (DESIGN §6), not on DESI DR1: its scores say how
  the pipeline works, not how it will do on real J-PAS data. Retrain on real files.
- Stars in that sky are a parametric approximation; stellar parameters from this model
  are a demonstration only.
- Errors are the 1σ of the predictive Gaussian (in asinh space for EWs, mapped to first
  order), scaled by `calibration.json` when present (fitted on Test-Synth: see Calibration);
  a single factor per target cannot fix a σ that is wrong in shape (heavy tails).
- The `small` preset is sized for a 2-core CPU; the paper's architecture is `paper`."""


_FIELD_NAMES = {"sigma_nmad": "σ_NMAD", "outlier_fraction": "outlier fraction η (|Δz| > 0.15)", "bias": "bias"}


def _rows(vocabulary, scores: dict) -> list[tuple[str, str, str | None]]:
    """(label, score key, field) for every headline score the model has, in the scorer's order.

    Labels come from the vocabulary: redshifts get σ_NMAD, η and bias; EWs bias / σ_NMAD in
    dex; other labels bias and σ_NMAD in their unit.
    """
    rows = []
    for key, block in scores.items():
        name = headline_token(key)
        token = vocabulary[name] if name in vocabulary else None
        if key == "weighted_f1":
            rows.append(("weighted F1 (SPECTYPE)", key, None))
        elif key == "LOGSFR_SF_err<0.5":
            rows.append(("log SFR σ_NMAD, SF galaxies with σ_pred < 0.5 [dex]", key, "sigma_nmad"))
        elif token is None or not isinstance(block, dict):
            continue
        elif token.is_redshift:
            cut = f" (z > {key[len(name) + 3:]})" if key != name else ""
            rows += [(f"{token.description}{cut}: {_FIELD_NAMES[f]}", key, f)
                     for f in ("sigma_nmad", "outlier_fraction", "bias")]
        elif token.line and token.transform == "asinh_ew":
            rows.append((f"log {key} bias / σ_NMAD [dex]", key, "bias/sigma_nmad"))
        else:
            unit = f" [{token.unit}]" if token.unit else ""
            rows += [(f"{key} ({token.description}) {_FIELD_NAMES[f]}{unit}", key, f) for f in ("bias", "sigma_nmad")]
    return rows


def _cell(scores, key, field, vocabulary):
    if field is None:
        value = scores.get(key)
        return f"{value:.3f}" if isinstance(value, float) else "–"
    block = scores.get(key, {})
    if field == "bias/sigma_nmad":
        return f"{block.get('bias', float('nan')):+.3f} / {block.get('sigma_nmad', float('nan')):.3f}"
    value = block.get(field)
    name = headline_token(key)
    if value is None:
        return "–"
    if name in vocabulary and vocabulary[name].unit == "K":
        return f"{value:.0f}"
    return f"{value:.4f}" if name in vocabulary and vocabulary[name].is_redshift else f"{value:.3f}"


def _paper(key, field):
    if field == "bias/sigma_nmad":
        ref = paper_value(key)
        return "–" if ref is None else f"{ref['bias']:+.3f} / {ref['sigma_nmad']:.3f}"
    ref = paper_value(key, field)
    if ref is None:
        return "–"
    return f"≈{ref}" if field is None else f"{ref}"


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _calibration_lines(model_dir, model: Ojala) -> list[str]:
    """The calibration's table (``calibration.json``: fitted on Test-Synth, scored on both samples)."""
    if model.calibration is None or "coverage" not in model.calibration.about:
        return ["## Calibration", "", "No `calibration.json`: errors are the model's raw 1σ "
                f"(`ojala calibrate --model {model_dir} --mocks MOCKDIR` fits one).", ""]
    about = model.calibration.about
    cover = about["coverage"]
    lines = ["## Calibration", "",
             f"`{about.get('command')}`: one factor on σ per target and a softmax temperature, fitted on "
             f"Test-Synth (i < {about.get('mag_limit')}, {about.get('objects'):,} objects); coverage of the "
             "predictive ±1σ / ±2σ (a Gaussian: 68.3 / 95.4 %), raw → calibrated:", "",
             "| target | σ scale | Test-Synth ±1σ [%] | Test-Synth ±2σ [%] | Test-Real ±1σ [%] | Test-Real ±2σ [%] |",
             "|---|---|---|---|---|---|"]
    for name, scale in model.calibration.sigma_scale.items():
        s, r = cover["test_synth"].get(name, {}), cover["test_real"].get(name, {})
        cells = [f"{_percent(b.get('raw_' + k))} → {_percent(b.get('within_' + k))}"
                 for b in (s, r) for k in ("1sigma", "2sigma")]
        lines.append(f"| {name} | {scale:.2f} | " + " | ".join(cells) + " |")
    for name, t in model.calibration.temperature.items():
        s, r = cover["test_synth"].get(name, {}), cover["test_real"].get(name, {})
        lines += ["", f"{name}: temperature {t:.2f}; expected calibration error Test-Synth "
                  f"{s.get('raw_ece', float('nan')):.4f} → {s.get('ece', float('nan')):.4f}, Test-Real "
                  f"{r.get('raw_ece', float('nan')):.4f} → {r.get('ece', float('nan')):.4f}."]
    return lines + [""]


def write_model_card(model_dir, scores: dict, command: str) -> Path:
    """Write ``MODEL_CARD.md`` in `model_dir` from the model's info and `scores` (evaluate_table per split)."""
    model_dir = Path(model_dir)
    model = Ojala.from_pretrained(model_dir)
    info = model.info
    cfg = info.get("train_config", {})
    source = info.get("mock_manifest", {})
    lines = [
        f"# Model card: {model_dir.name}", "",
        f"- Architecture: preset `{cfg.get('preset')}`, {model.n_parameters():,} parameters "
        f"({model.config.to_dict()}).",
        f"- Data: mocks in `{info.get('mock_dir')}` built from the synthetic sky "
        f"(preset `{source.get('preset')}`, seed {source.get('seed')}), "
        f"{info.get('n_train_objects'):,} training objects.",
        f"- Training: {info.get('steps')} steps of batch {cfg.get('batch_size')}, seed {cfg.get('seed')}, "
        f"domain adaptation {'on' if cfg.get('domain_adaptation') else 'off'}, "
        f"{info.get('seconds_this_run', 0) / 60:.0f} min in the last run.",
        f"- Command: `{command}`", "",
        f"## Scores (i < {scores['test_real'].get('mag_limit')}; `ojala evaluate`)", "",
        "| metric | Test-Synth | Test-Real | paper (Test-Real) |", "|---|---|---|---|",
    ]
    vocab = model.vocabulary
    for label, key, field in _rows(vocab, scores["test_real"]):
        lines.append(f"| {label} | {_cell(scores['test_synth'], key, field, vocab)} "
                     f"| {_cell(scores['test_real'], key, field, vocab)} "
                     f"| {_paper(key, field)} |")
    lines += ["", f"Objects scored: Test-Synth {scores['test_synth']['n_objects']:,}, "
              f"Test-Real {scores['test_real']['n_objects']:,}.", ""]
    lines += _calibration_lines(model_dir, model)
    if info.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in info["notes"]], ""]
    lines += ["## Limitations", "", LIMITATIONS, ""]
    path = model_dir / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
