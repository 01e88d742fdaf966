"""The paper's reference values (Martínez-Solaeche et al., Test-Real, i < 21), in one place.

Arranged like a sample's metrics in the validation report (`scoring.score_sample`), so that
one dotted path finds the paper's value and ours; `HEADLINE` maps the rows of `ojala
evaluate` and the model card to those paths. Each entry names its figure or table
(DESIGN §11). Not for computing metrics.
"""
from __future__ import annotations

from .vocabulary import DEFAULT_VOCABULARY

__all__ = ["PAPER", "PAPER_NOTES", "HEADLINE", "paper_value"]

PAPER = {
    "classification": {"full": {"weighted_f1": 0.9},                               # Fig. 3
                       "T1_BB_morph": {"weighted_f1": 0.8}},
    "photoz": {"galaxy": {"sigma_nmad": 0.01, "outlier_fraction": 0.05}},          # Fig. 4
    "lines": {"HALPHA_6562_EW": {"bias": 0.035, "sigma_nmad": 0.160},              # Fig. 6
              "HBETA_4861_EW": {"bias": 0.031, "sigma_nmad": 0.192},
              "NII_6584_EW": {"bias": 0.042, "sigma_nmad": 0.186},
              "OIII_5007_EW": {"bias": 0.021, "sigma_nmad": 0.291},
              "LOG_NII_HA": {"bias": 0.020, "sigma_nmad": 0.109},
              "LOG_OIII_HB": {"bias": 0.005, "sigma_nmad": 0.229}},
    "masked_lines": {"HALPHA_6562_EW": {"bias": 0.059, "sigma_nmad": 0.223},      # Table 1
                     "HBETA_4861_EW": {"bias": 0.040, "sigma_nmad": 0.235},
                     "NII_6584_EW": {"bias": 0.075, "sigma_nmad": 0.233},
                     "OIII_5007_EW": {"bias": 0.026, "sigma_nmad": 0.346}},
    "bpt": {"Ke01": {"classes": {"SF": {"f1": 0.805}, "AGN": {"f1": 0.681}}}},     # Table 2
    "whan": {"S06": {"classes": {"PASSIVE": {"f1": 0.909}, "SF": {"f1": 0.821},  # Table 3
                                 "AGN": {"f1": 0.755}}}},
    "halpha_luminosity": {"all": {"sigma_nmad": 0.29}, "ew_gt_10": {"sigma_nmad": 0.24}},  # Fig. 8
    "mass_sfr": {"LOGM": {"bias": 0.013, "sigma_nmad": 0.11},                      # Fig. 9
                 "LOGSFR_SF": {"sigma_nmad": 0.22}},
    "bh_mass": {"LOG_MBH": {"sigma_nmad": 0.56}},                                  # Fig. 10
}
# Quoted in the text, not comparable to one of our numbers: QSO photo-z at z ≈ 3.5 only.
PAPER_NOTES = {"qso_sigma_nmad_at_z_3_5": 0.006,
               "sigma": "the paper's σ are read as σ_NMAD; its i < 21 cut is our mag_limit default"}

# Key of a headline score (`scoring.headline_scores`) -> the path of its block in PAPER.
HEADLINE = {"weighted_f1": "classification.full", "Z_GAL": "photoz.galaxy", "LOGM": "mass_sfr.LOGM",
            "LOGSFR_SF_err<0.5": "mass_sfr.LOGSFR_SF",
            **{t: f"lines.{t}" for t in PAPER["lines"] if t in DEFAULT_VOCABULARY}}


def paper_value(key: str, field: str | None = None):
    """The paper's value of headline score `key` (and `field`, e.g. 'sigma_nmad'), or None."""
    block = PAPER
    for part in HEADLINE.get(key, "-").split("."):
        block = block.get(part) if isinstance(block, dict) else None
    if block is None:
        return None
    if key == "weighted_f1" and field is None:
        return block["weighted_f1"]
    return block if field is None else block.get(field)
