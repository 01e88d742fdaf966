"""The report as one HTML page: figures (relative PNGs), who-wins tables, LePHARE's status, in plain HTML.

No scripts, no CDN: it opens offline in any browser. Not for computing metrics or drawing figures.
"""
from __future__ import annotations

import html
import math
from collections import Counter

from ..comparison import PAPER_NOTES
from ..io.files import atomic_path
from .figures import FIGURES

__all__ = ["write_html", "format_value"]

_CSS = """body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%;
border:1px solid #ddd;margin:4px 0}.win{font-weight:bold}.note{color:#555;font-size:13px}"""
_SAMPLE_TITLES = {"test_real": "Test-Real (real J-PAS photometry of the DESI cross-match)",
                  "test_synth": "Test-Synth (synthetic photometry of the same objects)"}


def format_value(value) -> str:
    """A metric for a table cell: 4 significant digits, '—' when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _comparison_table(rows) -> str:
    head = "<tr><th>metric</th><th>n</th><th>paper</th><th>OJALA</th><th>HGB</th><th>LePHARE</th><th>winner</th></tr>"
    body = []
    for r in rows:
        cells = [html.escape(r["path"]), format_value(r["n"]), format_value(r["paper"])]
        for name, label in (("ojala", "OJALA"), ("hgb", "HGB"), ("lephare", "LePHARE")):
            cls = ' class="win"' if r["winner"] == label else ""
            cells.append(f"<span{cls}>{format_value(r[name])}</span>")
        cells.append(format_value(r["winner"]))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _wins_sentence(rows) -> str:
    wins = Counter(r["winner"] for r in rows if r["winner"])
    if not wins:
        return "No metric had two contenders."
    parts = ", ".join(f"{name} {count}" for name, count in wins.most_common())
    return f"Metrics won (of {sum(wins.values())} with at least two contenders): {parts}."


def _lephare_text(block: dict, sample: str) -> str:
    if not block.get("available"):
        return f"<p class='note'>LePHARE baseline not run: {html.escape(block.get('reason', ''))}.</p>"
    s = block.get(sample) or {}
    if not s:
        return ""
    z = s["photoz"]["galaxy"]
    return (f"<p class='note'>LePHARE (COSMOS templates, the official J-PAS curves, {s['n_objects']} random galaxies "
            f"with i &lt; limit, {s['seconds']} s): σ_NMAD {format_value(z['sigma_nmad'])}, η "
            f"{format_value(z['outlier_fraction'])}, bias {format_value(z['bias'])}; {s['n_failed']} fits failed. "
            f"It removed at least one band as discrepant for {format_value(100 * s['fraction_with_removed_band'])} % "
            f"of the objects and the bluest band for {format_value(100 * s['fraction_bluest_band_removed'])} % "
            f"(most removed: {html.escape(', '.join(f'{k} ×{v}' for k, v in s['most_removed_bands'].items()))}): "
            "its templates and the bagpipes galaxies of the synthetic sky differ in the blue.</p>")


def _source_text(source: dict) -> str:
    return (f"<p class='note'>{source['n_objects']} objects ({source['n_bright']} with i &lt; limit); full-context "
            f"predictions from the {html.escape(source['source'])}"
            + (f", {source['not_in_vac']} not found in the VAC" if source.get("not_in_vac") else "") + ".</p>")


def _percent(entry: dict | None, key: str) -> str:
    value = None if entry is None else entry.get(key)
    return "—" if value is None else f"{100 * value:.1f}"


def _calibration_table(calibration: dict) -> str:
    """Coverage of ±1σ / ±2σ per target (raw and after the stored calibration) and the class ECE."""
    head = ("<tr><th>target</th><th>n</th><th>±1σ raw [%]</th><th>±2σ raw [%]</th><th>σ scale</th>"
            "<th>±1σ [%]</th><th>±2σ [%]</th></tr>")
    body = []
    for name, e in calibration["regression"].items():
        raw = e.get("raw", e)
        cells = [html.escape(name), format_value(e["n"]), _percent(raw, "within_1sigma"),
                 _percent(raw, "within_2sigma"), format_value(e.get("sigma_scale", 1.0)),
                 _percent(e, "within_1sigma"), _percent(e, "within_2sigma")]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rel = calibration["classification"].get("SPECTYPE")
    ece = "" if not rel or rel["ece"] is None else (
        f"<p class='note'>SPECTYPE expected calibration error (10 bins of P(top class)): "
        f"{format_value(rel.get('raw', rel)['ece'])} raw, {format_value(rel['ece'])} after temperature "
        f"{format_value(rel.get('temperature', 1.0))}.</p>")
    return (f"<h3>Calibration of the errors (i &lt; limit; a Gaussian puts 68.3 % within ±1σ, 95.4 % within ±2σ; "
            f"the calibration is fitted on Test-Synth only)</h3><table>{head}{''.join(body)}</table>{ece}")


def _sample_section(sample: str, metrics: dict, files: dict) -> str:
    rows = metrics["comparison"][sample]
    parts = [f"<h2>{_SAMPLE_TITLES.get(sample, sample)}</h2>", _source_text(metrics[sample]["source"]),
             f"<p>{_wins_sentence(rows)}</p>", _comparison_table(rows),
             _lephare_text(metrics["baselines"]["lephare"], sample)]
    if metrics[sample].get("calibration"):
        parts.append(_calibration_table(metrics[sample]["calibration"]))
    for name, file in files.items():
        figure, caption = FIGURES[name]
        parts.append(f"<h3>{figure}: {html.escape(caption)}</h3><img src='figures/{file}' alt='{name} {sample}'>")
    return "\n".join(parts)


def write_html(path, metrics: dict, figures: dict):
    """Write the report page; `figures` maps sample -> {figure name: PNG file name under figures/}."""
    meta = metrics["meta"]
    intro = (f"<h1>OJALA validation report</h1><p class='note'>VAC {html.escape(meta['vac'])}; mocks "
             f"{html.escape(meta['mocks'])}; model {html.escape(meta['model'])}; global metrics at i &lt; "
             f"{meta['mag_limit']}; sliding bins of ±0.3 mag every 0.3 mag with ≥ {meta['min_count']} objects; "
             f"{meta['seconds']} s. Paper values are Test-Real (i &lt; 21); {html.escape(PAPER_NOTES['sigma'])}. "
             "Winners: smallest |bias|, smallest σ_NMAD and η, largest F1. HGB: scikit-learn "
             "HistGradientBoosting per target on the same mocks' train split, scored on the same objects. "
             "All numbers are in metrics.json.</p>")
    body = "\n".join(_sample_section(s, metrics, figures[s]) for s in figures)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>OJALA validation</title>"
            f"<style>{_CSS}</style></head><body>{intro}\n{body}</body></html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
