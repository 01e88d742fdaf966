"""Who wins each headline metric of the report (OJALA, HGB, LePHARE), beside the paper's value.

The paper's numbers live in `ojala_core.paper`. Not for computing metrics.
"""
from __future__ import annotations

import math

from .paper import PAPER, PAPER_NOTES

__all__ = ["PAPER", "PAPER_NOTES", "comparison_rows", "winner", "lookup", "CONTENDERS", "BETTER"]

CONTENDERS = ("ojala", "hgb", "lephare")
_NAMES = {"ojala": "OJALA", "hgb": "HGB", "lephare": "LePHARE"}
# How a metric ranks: smaller |value|, smaller value, or larger value is better.
BETTER = {"bias": "abs_min", "sigma_nmad": "min", "outlier_fraction": "min", "f1": "max", "weighted_f1": "max"}
_SKIP = ("vs_mag", "vs_z")


def lookup(tree, path: str):
    """The value at dotted `path` of nested dicts, or None."""
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def winner(metric: str, values: dict):
    """Name of the best contender for `metric` among finite `values` ({contender: value}); None with < 2."""
    scored = {k: v for k, v in values.items() if _finite(v)}
    if len(scored) < 2:
        return None
    rank = BETTER[metric]
    key = {"abs_min": lambda k: abs(scored[k]), "min": lambda k: scored[k], "max": lambda k: -scored[k]}[rank]
    ordered = sorted(scored, key=key)
    if key(ordered[0]) == key(ordered[1]):
        return "tie"
    return _NAMES[ordered[0]]


def _leaf_paths(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if key in _SKIP:
            continue
        if isinstance(value, dict):
            yield from _leaf_paths(value, path + ".")
        elif key in BETTER:
            yield path


def _row(path, section_values: dict, paper):
    metric = path.rsplit(".", 1)[1]
    parent = path.rsplit(".", 1)[0]
    values = {c: lookup(v, path) for c, v in section_values.items()}
    n = lookup(section_values["ojala"], parent + ".n")
    return {"path": path, "metric": metric, "paper": lookup(paper, path), **values, "n": n,
            "winner": winner(metric, values)}


def comparison_rows(ojala: dict, hgb: dict | None, lephare: dict | None, paper: dict = PAPER) -> list[dict]:
    """One row per headline metric of a sample: paper, OJALA, HGB, LePHARE values and the winner.

    Parameters
    ----------
    ojala, hgb : a sample's sections (see `scoring.score_sample`); hgb may be None
    lephare : the sample's LePHARE block (``photoz.galaxy`` and ``same_objects.{ojala,hgb}``) or None

    Rows with fewer than two finite values have ``winner`` None. The LePHARE rows compare the
    three on LePHARE's own subset of galaxies (path prefix ``lephare_subset.``).
    """
    rows = [_row(p, {"ojala": ojala, "hgb": hgb or {}}, paper) for p in _leaf_paths(ojala)]
    for row in rows:
        row["lephare"] = None
    if lephare and "photoz" in lephare:
        same = lephare["same_objects"]
        for metric in ("bias", "sigma_nmad", "outlier_fraction"):
            values = {"ojala": same["ojala"][metric], "hgb": same["hgb"][metric] if same.get("hgb") else None,
                      "lephare": lephare["photoz"]["galaxy"][metric]}
            rows.append({"path": f"lephare_subset.photoz.galaxy.{metric}", "metric": metric,
                         "paper": lookup(paper, f"photoz.galaxy.{metric}"), **values,
                         "n": lephare["photoz"]["galaxy"]["n"], "winner": winner(metric, values)})
    return rows
