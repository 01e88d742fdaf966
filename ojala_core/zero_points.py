"""Photometric zero points of a J-PAS catalogue against the synthetic system the model was trained in.

Surveys calibrate narrow-band photometry against spectrophotometry of stars (J-PLUS and J-PAS with
Gaia BP/RP spectra); here the stars are the J-PAS × DESI cross-matched ones, whose DESI spectra give
the synthetic photometry the training set is made of. Not a domain adaptation of the model (see
`ojala_core.train`), and not for the sky's designed offsets (see `ojala_core.sky.jpas_system`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .io.files import write_json
from .io.tables import InputError
from .vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["ZeroPoints", "ZERO_POINTS_FILE", "CALIBRATION_MAG_RANGE", "MIN_CALIBRATION_STARS"]

log = logging.getLogger(__name__)

ZERO_POINTS_FILE = "zero_points.json"
CALIBRATION_MAG_RANGE = (14.0, 18.5)   # MAG_i of the calibration stars: unsaturated, S/N ≳ 30 in the NB
MIN_CALIBRATION_STARS = 30             # fewer in a band: its offset is not fitted (0)
CALIBRATION_CLASS = "STAR"             # DESI SPECTYPE of the calibration objects (point sources, no aperture term)


def isdss_magnitude(vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """The iSDSS magnitude token (the broad-band magnitude that is not a Legacy/WISE one)."""
    legacy = set(vocabulary.legacy_magnitudes.values())
    name, = [t for t in vocabulary.broad_band_magnitudes if t not in legacy]
    return name


@dataclass(frozen=True)
class ZeroPoints:
    """Per-token offsets real − synthetic [mag] of a catalogue, and how well each is known.

    Attributes
    ----------
    offsets : dict token -> float [mag]
        Narrow bands: the offset of the colour band − iSDSS (their tokens are f_ν ratios to iSDSS);
        the iSDSS magnitude: the offset of the magnitude. Positive: the catalogue is fainter.
    uncertainties : dict token -> float [mag]
        1σ of each offset (1.2533 σ_NMAD / √n of the median).
    n_stars : dict token -> int
        Calibration stars that gave each offset (0: not fitted, offset 0).
    mag_range : (float, float)
        MAG_i range of the calibration stars [AB mag].
    """

    offsets: dict
    uncertainties: dict
    n_stars: dict
    mag_range: tuple = CALIBRATION_MAG_RANGE

    @classmethod
    def fit(cls, real: pd.DataFrame, synthetic: pd.DataFrame, mag_range=CALIBRATION_MAG_RANGE,
            min_stars=MIN_CALIBRATION_STARS, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> "ZeroPoints":
        """Offsets from the same objects' token tables: real catalogue photometry and synthetic
        photometry of their spectra (row-aligned, e.g. Test-Real and Test-Synth), over the
        `CALIBRATION_CLASS` objects with `mag_range[0] ≤ MAG_i < mag_range[1]` in the catalogue."""
        if len(real) != len(synthetic) or not np.array_equal(real["TARGETID"].to_numpy(),
                                                              synthetic["TARGETID"].to_numpy()):
            raise ValueError("zero points need the same objects, in the same order, in both tables")
        i_mag = isdss_magnitude(vocabulary)
        mag = real[i_mag].to_numpy(float)
        stars = (real["SPECTYPE"].to_numpy() == CALIBRATION_CLASS) & (mag >= mag_range[0]) & (mag < mag_range[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            differences = {band: -2.5 * np.log10(real[band].to_numpy(float) / synthetic[band].to_numpy(float))
                           for band in vocabulary.narrow_bands}
        differences[i_mag] = mag - synthetic[i_mag].to_numpy(float)
        offsets, uncertainties, n_stars = {}, {}, {}
        for token, d in differences.items():
            d = d[stars & np.isfinite(d)]
            fitted = d.size >= min_stars
            median = float(np.median(d)) if fitted else 0.0
            offsets[token] = round(median, 5)
            uncertainties[token] = round(float(1.2533 * 1.4826 * np.median(np.abs(d - median)) / np.sqrt(d.size)), 5) \
                if fitted else None
            n_stars[token] = int(d.size) if fitted else 0
        missing = [t for t, n in n_stars.items() if n == 0]
        if missing:
            log.warning("zero points: fewer than %d %s objects with %g <= %s < %g for %s; those offsets are 0 "
                        "(not fitted)", min_stars, CALIBRATION_CLASS, mag_range[0], i_mag, mag_range[1],
                        ", ".join(missing))
        return cls(offsets, uncertainties, n_stars, tuple(mag_range))

    @property
    def fitted(self) -> bool:
        return any(n > 0 for n in self.n_stars.values())

    def apply(self, tokens: pd.DataFrame, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> pd.DataFrame:
        """A copy of a token table with its photometry put on the synthetic system."""
        i_mag = isdss_magnitude(vocabulary)
        changed = {}
        for token, offset in self.offsets.items():
            if token not in tokens or offset == 0:
                continue
            if token == i_mag:
                changed[token] = tokens[token] - offset
            else:
                factor = 10 ** (0.4 * offset)
                changed[token] = tokens[token] * factor
                if f"{token}_ERR" in tokens:
                    changed[f"{token}_ERR"] = tokens[f"{token}_ERR"] * factor
        if not changed:
            return tokens.copy()
        # One concatenation, not a column at a time (a fragmented frame for every later insert).
        return pd.concat([tokens.drop(columns=list(changed)), pd.DataFrame(changed, index=tokens.index)],
                         axis=1)[tokens.columns]

    def isdss_flux_factor(self, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> float:
        """The factor that puts the catalogue's iSDSS flux on the synthetic system (the scale of the NB ratios)."""
        return 10 ** (0.4 * self.offsets.get(isdss_magnitude(vocabulary), 0.0))

    def to_dict(self) -> dict:
        return {**asdict(self), "mag_range": list(self.mag_range), "calibration_class": CALIBRATION_CLASS}

    def save(self, path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source="zero points", vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> "ZeroPoints":
        try:
            offsets = {str(k): float(v) for k, v in d["offsets"].items()}
            zp = cls(offsets, dict(d["uncertainties"]), {str(k): int(v) for k, v in d["n_stars"].items()},
                     tuple(float(m) for m in d.get("mag_range", CALIBRATION_MAG_RANGE)))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InputError(f"{source}: not a zero-point table ('offsets', 'uncertainties', 'n_stars': "
                             f"token -> value): {err!r}") from None
        known = set(vocabulary.narrow_bands) | {isdss_magnitude(vocabulary)}
        unknown = sorted(set(offsets) - known)
        if unknown:
            raise InputError(f"{source}: offsets for tokens that are not J-PAS narrow bands or the iSDSS "
                             f"magnitude: {', '.join(unknown)}")
        if not set(offsets) == set(zp.uncertainties) == set(zp.n_stars):
            raise InputError(f"{source}: 'offsets', 'uncertainties' and 'n_stars' must name the same tokens")
        bad = [t for t, v in offsets.items() if not np.isfinite(v) or abs(v) > 1.0]
        if bad:
            raise InputError(f"{source}: offsets not finite or beyond ±1 mag for {', '.join(bad)}")
        return zp

    @classmethod
    def load(cls, path) -> "ZeroPoints":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: no such zero-point file (written by 'ojala mocks' as "
                             f"MOCKS/{ZERO_POINTS_FILE})") from None
        except ValueError as err:
            raise InputError(f"{path}: not JSON: {err}") from None
        return cls.from_dict(d, str(path))

    def summary(self) -> str:
        fitted = [t for t, n in self.n_stars.items() if n > 0]
        rms = np.sqrt(np.mean([self.offsets[t] ** 2 for t in fitted])) if fitted else 0.0
        return (f"{len(fitted)} of {len(self.offsets)} offsets fitted on up to {max(self.n_stars.values(), default=0)} "
                f"stars, rms {rms:.3f} mag")
