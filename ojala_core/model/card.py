"""Model card of a trained model: data, command, seed, scores against the paper's, limitations.

Written from the model's own record (``config.json`` info) and measured scores; nothing
in it is typed by hand; its rows follow the model's vocabulary. Not for computing the
scores (see `ojala_core.scoring`).
"""
from __future__ import annotations

from pathlib import Path

from ..comparison import lookup, winner
from ..io.files import atomic_path
from ..paper import PAPER, paper_value
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
    whan = about.get("whan_passive_fit")
    if "WHAN_PASSIVE" in model.calibration.thresholds and whan and whan.get("mean_f1") is not None:
        lines += ["", f"WHAN passive: a galaxy is passive when P(EW(Hα) < 3 Å) ≥ "
                  f"{model.calibration.thresholds['WHAN_PASSIVE']:.2f} (the VAC's `P_WHAN_PASSIVE`), the threshold "
                  f"that maximises the mean F1 of the passive, SF and AGN classes on Test-Synth "
                  f"({whan['galaxies']:,} galaxies: {whan['mean_f1_at_half']:.3f} at 0.5 → {whan['mean_f1']:.3f})."]
    return lines + [""]


def _report_paths(vocab) -> list[tuple[str, str]]:
    """(label, dotted path of a sample's metrics in the validation report) of the card's comparison rows."""
    rows = [("weighted F1", "classification.full.weighted_f1"),
            ("weighted F1, no MORPHTYPE in the input (OJALA only)", "classification.no_morph.weighted_f1"),
            ("galaxy z σ_NMAD", "photoz.galaxy.sigma_nmad"), ("galaxy z η", "photoz.galaxy.outlier_fraction"),
            ("QSO z σ_NMAD", "photoz.qso.sigma_nmad"), ("QSO z η", "photoz.qso.outlier_fraction"),
            ("log M* σ_NMAD [dex]", "mass_sfr.LOGM.sigma_nmad"),
            ("log SFR σ_NMAD, star-forming [dex]", "mass_sfr.LOGSFR_SF.sigma_nmad")]
    rows += [(f"log {name} σ_NMAD [dex]", f"lines.{name}.sigma_nmad") for name in vocab.line_ew_tokens.values()]
    for curve, block in PAPER["bpt"].items():
        rows += [(f"BPT F1 {c} ({curve})", f"bpt.{curve}.classes.{c}.f1") for c in block["classes"]]
    for cut, block in PAPER["whan"].items():
        rows += [(f"WHAN F1 {c} ({cut} cut)", f"whan.{cut}.classes.{c}.f1") for c in block["classes"]]
    rows += [(f"{name} σ_NMAD", f"stars.{name}.sigma_nmad") for name in vocab.targets_for("STAR")]
    return rows


def _comparison_lines(report: dict, vocab) -> list[str]:
    """OJALA against the trees (HGB) and LePHARE on both samples, from a validation report's metrics."""
    lines = ["## OJALA against the baselines (`ojala validate`)", "",
             f"Report of `{report['meta']['vac']}` (i < {report['meta']['mag_limit']:g}); HGB: one scikit-learn "
             "HistGradientBoosting model per target trained on the same mocks; LePHARE: template fits of its own "
             "subset of galaxies (the three compared on those galaxies).", ""]
    hgb = report["baselines"]["hgb"]
    for sample, title in (("test_real", "Test-Real"), ("test_synth", "Test-Synth")):
        lines += [f"### {title}", "", "| metric | OJALA | HGB | LePHARE | paper | better |",
                  "|---|---|---|---|---|---|"]
        wins = total = 0
        for label, path in _report_paths(vocab):
            values = {"ojala": lookup(report.get(sample, {}), path), "hgb": lookup(hgb.get(sample) or {}, path)}
            if values["ojala"] is None:
                continue
            best = winner(path.rsplit(".", 1)[1], values)
            wins, total = wins + (best == "OJALA"), total + (best is not None)
            lines.append(f"| {label} | {_number(values['ojala'])} | {_number(values['hgb'])} | – | "
                         f"{_number(lookup(PAPER, path))} | {best or '–'} |")
        block = (report["baselines"]["lephare"].get(sample) or {})
        if "photoz" in block:
            same = block["same_objects"]
            for metric in ("sigma_nmad", "outlier_fraction"):
                values = {"ojala": same["ojala"][metric], "hgb": (same.get("hgb") or {}).get(metric),
                          "lephare": block["photoz"]["galaxy"][metric]}
                best = winner(metric, values)
                lines.append(f"| galaxy z {'σ_NMAD' if metric == 'sigma_nmad' else 'η'}, LePHARE's "
                             f"{block['photoz']['galaxy']['n']} galaxies | {_number(values['ojala'])} | "
                             f"{_number(values['hgb'])} | {_number(values['lephare'])} | – | {best or '–'} |")
        lines += ["", f"OJALA is better than HGB on {wins} of {total} rows compared (LePHARE rows apart).", ""]
    return lines


def _number(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.4f}" if abs(value) < 0.1 else f"{value:.3f}"


def _earlier_run_lines(info) -> list[str]:
    """One line on the runs a chained training continued (``ojala train --init-from``), with the total."""
    earlier = info.get("earlier_runs", [])
    if not earlier:
        return []
    steps = [run.get("steps") or 0 for run in earlier]
    minutes = [(run.get("seconds_this_run") or 0) / 60 for run in earlier]
    parts = ", ".join(f"{s:,} steps in {m:.0f} min" for s, m in zip(steps, minutes))
    total_steps = sum(steps) + (info.get("steps") or 0)
    total_minutes = sum(minutes) + info.get("seconds_this_run", 0) / 60
    return [f"- Continued from earlier runs ({parts}; `--init-from`): {total_steps:,} steps and "
            f"{total_minutes:.0f} min of training in all."]


def _realism_lines(realism: dict) -> list[str]:
    """The realism check (`ojala realism`'s realism.json): each set of spectra the sky does not use
    against the sky's own control objects, over every magnitude, MORPHTYPE given or not."""
    summary = realism.get("summary")
    if not summary:
        raise ValueError("realism.json has no 'summary' (made by an older 'ojala realism': run it again)")
    by = {(row["source"], row["set"]): row for row in summary}
    lines = ["## Realism check (`ojala realism`)", "",
             f"`ojala realism --model {realism.get('model')} --n {realism.get('n_per_set')}"
             f"{' --zero-points MOCKS/zero_points.json' if realism.get('zero_points') else ''}` (seed "
             f"{realism.get('seed')}): J-PAS photometry of spectra the sky does not use, at every magnitude "
             "(i 12–25), through `ojala vac` as a user's file, half of the rows without MORPHTYPE; the control is "
             "the sky's own objects in the same file. The gap between the two columns is the gap between the sky "
             "and spectra it does not make.", "",
             "| set (external source) | metric | external | sky control |", "|---|---|---|---|"]

    def cell(source, name, key, scale=1.0, fmt="{:.3f}"):
        row = by.get((source, name))
        value = None if row is None else row.get(key)
        return "–" if value is None or value != value else fmt.format(scale * value)

    sources = realism.get("sources", {})
    for name in ("GALAXY", "QSO", "STAR"):
        label = f"{name} ({sources.get(name, '?').split(' (')[0]})"
        n = f"n {cell('external', name, 'n', fmt='{:.0f}')} / {cell('sky', name, 'n', fmt='{:.0f}')}"
        lines.append(f"| {label} | class right ({n}) | {cell('external', name, 'correct_class')} "
                     f"| {cell('sky', name, 'correct_class')} |")
        if name == "STAR":
            lines.append(f"| | Teff σ_NMAD [K] | {cell('external', name, 'teff_sigma_nmad', fmt='{:.0f}')} "
                         f"| {cell('sky', name, 'teff_sigma_nmad', fmt='{:.0f}')} |")
        else:
            scores = [f"{cell(source, name, 'z_sigma_nmad')} / {cell(source, name, 'z_outliers', 100, '{:.0f}')}"
                      for source in ("external", "sky")]
            lines.append(f"| | z σ_NMAD / η [%] | {scores[0]} | {scores[1]} |")
    return [*lines, ""]


def write_model_card(model_dir, scores: dict, command: str, report: dict | None = None,
                     realism: dict | None = None, zero_points: str | None = None) -> Path:
    """Write ``MODEL_CARD.md`` in `model_dir` from the model's info, `scores` (evaluate_table per split)
    and, when given, a validation report's metrics (`report`: OJALA against HGB and LePHARE), a
    realism check (`realism`: the realism.json of ``ojala realism``) and the summary of the zero points
    Test-Real was calibrated with (`zero_points`)."""
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
        *_earlier_run_lines(info),
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
              f"Test-Real {scores['test_real']['n_objects']:,}. Test-Real photometry: "
              + (f"on the synthetic system through the mocks' zero points ({zero_points}; fitted on the matched "
                 "stars, README \"Mocks\" step 5)." if zero_points else "as in the catalogue (no zero points)."), ""]
    lines += _calibration_lines(model_dir, model)
    if report is not None:
        lines += _comparison_lines(report, vocab)
    if realism is not None:
        lines += _realism_lines(realism)
    if info.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in info["notes"]], ""]
    lines += ["## Limitations", "", LIMITATIONS, ""]
    path = model_dir / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
