"""Model card of a trained model: data, command, seed, scores against the paper's, limitations.

Written from the model's own record (``config.json`` info) and measured scores; nothing
in it is typed by hand. Not for computing the scores (see `ojala_core.evaluation`).
"""
from __future__ import annotations

from pathlib import Path

from ..evaluation import PAPER_VALUES
from ..io.files import atomic_path
from .pretrained import Ojala

__all__ = ["write_model_card"]

_ROWS = [("weighted F1 (SPECTYPE)", "weighted_f1", None), ("galaxy photo-z σ_NMAD", "Z_GAL", "sigma_nmad"),
         ("galaxy photo-z outlier fraction η (Δz beyond ±0.15)", "Z_GAL", "outlier_fraction"), ("galaxy photo-z bias", "Z_GAL", "bias"),
         ("QSO photo-z σ_NMAD (z > 1.5)", "Z_QSO_z>1.5", "sigma_nmad"),
         ("log M* bias [dex]", "LOGM", "bias"), ("log M* σ_NMAD [dex]", "LOGM", "sigma_nmad"),
         ("log SFR bias [dex]", "LOGSFR", "bias"), ("log SFR σ_NMAD [dex]", "LOGSFR", "sigma_nmad"),
         ("log SFR σ_NMAD, SF galaxies with σ_pred < 0.5 [dex]", "LOGSFR_SF_err<0.5", "sigma_nmad"),
         ("Teff σ_NMAD [K]", "TEFF", "sigma_nmad"), ("log g σ_NMAD [dex]", "LOGG", "sigma_nmad"),
         ("[Fe/H] σ_NMAD [dex]", "FEH", "sigma_nmad")]
_ROWS += [(f"log EW {name.split('_')[0]} bias / σ_NMAD [dex]", name, "bias/sigma_nmad")
          for name in ("HALPHA_6562_EW", "HBETA_4861_EW", "OIII_5007_EW", "NII_6584_EW")]

LIMITATIONS = """\
- Trained on the embedded *synthetic* sky (DESIGN §6), not on DESI DR1: its scores say how
  the pipeline works, not how it will do on real J-PAS data. Retrain on real files.
- Stars in that sky are a parametric approximation; stellar parameters from this model
  are a demonstration only.
- Errors are the 1σ of the predictive Gaussian (in asinh space for EWs, mapped to first
  order); their calibration has not been validated yet.
- The `small` preset is sized for a 2-core CPU; the paper's architecture is `paper`."""


def _cell(scores, key, field):
    if field is None:
        value = scores.get(key)
        return f"{value:.3f}" if isinstance(value, float) else "–"
    block = scores.get(key, {})
    if field == "bias/sigma_nmad":
        return f"{block.get('bias', float('nan')):+.3f} / {block.get('sigma_nmad', float('nan')):.3f}"
    value = block.get(field)
    return "–" if value is None else (f"{value:.0f}" if key == "TEFF" else f"{value:.4f}" if key.startswith("Z_") else f"{value:.3f}")


def _paper(key, field):
    ref = PAPER_VALUES.get(key)
    if ref is None:
        return "–"
    if field is None:
        return f"≈{ref}"
    if field == "bias/sigma_nmad":
        return f"{ref['bias']:+.3f} / {ref['sigma_nmad']:.3f}"
    return f"{ref[field]}" if field in ref else "–"


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
        f"(preset `{source.get('preset')}`, seed {source.get('seed')}), {info.get('n_train_objects'):,} training objects.",
        f"- Training: {info.get('steps')} steps of batch {cfg.get('batch_size')}, seed {cfg.get('seed')}, "
        f"domain adaptation {'on' if cfg.get('domain_adaptation') else 'off'}, "
        f"{info.get('seconds_this_run', 0) / 60:.0f} min in the last run.",
        f"- Command: `{command}`", "",
        f"## Scores (i < {scores['test_real'].get('mag_limit')}; `ojala evaluate`)", "",
        "| metric | Test-Synth | Test-Real | paper (Test-Real) |", "|---|---|---|---|",
    ]
    for label, key, field in _ROWS:
        lines.append(f"| {label} | {_cell(scores['test_synth'], key, field)} | {_cell(scores['test_real'], key, field)} "
                     f"| {_paper(key, field)} |")
    lines += ["", f"Objects scored: Test-Synth {scores['test_synth']['n_objects']:,}, "
              f"Test-Real {scores['test_real']['n_objects']:,}.", ""]
    if info.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in info["notes"]], ""]
    lines += ["## Limitations", "", LIMITATIONS, ""]
    path = model_dir / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
