"""The vocabulary: the one table of tokens (observables and parameters) OJALA knows.

Every other module asks this table for token names, kinds, wavelengths, units and
transforms; nothing else hard-codes them. Not for normalisation statistics (those are
fitted on a training set and stored with the weights).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from .filters import jpas_narrow_band_names, load_filter

__all__ = [
    "Token", "Vocabulary", "DEFAULT_VOCABULARY", "TRAYS", "SPECTYPES", "MORPHTYPES",
    "TRANSFORMS", "EW_SCALE_ANGSTROM", "NB_FLUX", "MAGNITUDE", "REGRESSION", "CLASS",
]

# Token kinds.
NB_FLUX = "nb_flux"        # J-PAS narrow band, f_nu ratio to iSDSS (shape only)
MAGNITUDE = "magnitude"    # AB magnitude
REGRESSION = "regression"  # physical parameter with an error
CLASS = "class"            # categorical

SPECTYPES = ("GALAXY", "STAR", "QSO")
MORPHTYPES = ("PSF", "REX", "EXP", "DEV", "SER", "GGAL")

# Trays of the J-PAS camera (paper footnote 3). The paper lists T1 and T2; the
# remaining 27 bands are split here in wavelength order, the 14 bluest+J0730–J0780
# in T3 and J0790–J0910 in T4 (our convention, documented in the README).
TRAYS: dict[str, tuple[str, ...]] = {
    "T1": ("J0410", "J0450", "J0490", "J0530", "J0540", "J0550", "J0560", "J0570",
           "J0580", "J0590", "J0600", "J0610", "J0620"),
    "T2": ("J0390", "J0430", "J0470", "J0510", "J0630", "J0640", "J0650", "J0660",
           "J0670", "J0680", "J0690", "J0700", "J0710", "J0720"),
}
_rest = [b for b in jpas_narrow_band_names() if b not in TRAYS["T1"] + TRAYS["T2"]]
TRAYS["T3"] = tuple(_rest[:14])
TRAYS["T4"] = tuple(_rest[14:])
del _rest

# Equivalent widths span decades and can be <= 0; they are modelled as
# asinh(EW / EW_SCALE), linear near zero and logarithmic above a few Å.
EW_SCALE_ANGSTROM = 1.0

TRANSFORMS = {
    "identity": (lambda x: x, lambda y: y),
    "asinh_ew": (lambda x: np.arcsinh(np.asarray(x) / EW_SCALE_ANGSTROM),
                 lambda y: EW_SCALE_ANGSTROM * np.sinh(np.asarray(y))),
}


@dataclass(frozen=True)
class Token:
    """One entry of the vocabulary.

    Attributes
    ----------
    name : str
        Token name, also the column name in mock / VAC tables (errors in ``NAME_ERR``).
    kind : str
        ``nb_flux``, ``magnitude``, ``regression`` or ``class``.
    unit : str
        Physical unit of the value ('' if dimensionless).
    filter : str or None
        Filter curve name for photometric tokens (see `ojala_core.filters`).
    narrow : bool
        True for J-PAS narrow bands.
    tray : str or None
        J-PAS tray (T1–T4) of a narrow band.
    transform : str
        Name in `TRANSFORMS` applied before standardisation.
    applies_to : tuple of str
        SPECTYPEs for which the token is a meaningful label (empty: any object).
    is_label : bool
        True for spectroscopic labels (targets that observations must predict; a
        physical target never sees another label in its context).
    categories : tuple of str
        Category names for ``class`` tokens.
    description : str
    """

    name: str
    kind: str
    unit: str = ""
    filter: str | None = None
    narrow: bool = False
    tray: str | None = None
    transform: str = "identity"
    applies_to: tuple[str, ...] = ()
    is_label: bool = False
    categories: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_photometric(self) -> bool:
        return self.filter is not None

    @property
    def pivot_wavelength(self) -> float | None:
        """Pivot wavelength of the token's filter [Å], or None."""
        return load_filter(self.filter).pivot_wavelength if self.filter else None


def _tray_of(band: str) -> str:
    return next(t for t, bands in TRAYS.items() if band in bands)


def _default_tokens() -> list[Token]:
    tokens = [
        Token(nb, NB_FLUX, "", filter=nb, narrow=True, tray=_tray_of(nb),
              description=f"J-PAS {nb} flux density relative to iSDSS (f_nu ratio)")
        for nb in jpas_narrow_band_names()
    ]
    broad = [("MAG_i", "iSDSS", "J-PAS iSDSS total magnitude (MAG_AUTO)"),
             ("MAG_G", "DECam_g", "Legacy Surveys g"), ("MAG_R", "DECam_r", "Legacy Surveys r"),
             ("MAG_Z", "DECam_z", "Legacy Surveys z"), ("MAG_W1", "WISE_W1", "WISE W1 (Legacy forced)"),
             ("MAG_W2", "WISE_W2", "WISE W2 (Legacy forced)")]
    tokens += [Token(n, MAGNITUDE, "mag(AB)", filter=f, description=d) for n, f, d in broad]
    tokens += [
        Token("MORPHTYPE", CLASS, categories=MORPHTYPES, description="Legacy Surveys morphological type"),
        Token("SPECTYPE", CLASS, categories=SPECTYPES, is_label=True, description="DESI spectral class"),
    ]
    gal, qso, star = ("GALAXY",), ("QSO",), ("STAR",)
    labels = [
        ("Z_GAL", "", gal, "identity", "galaxy spectroscopic redshift"),
        ("LOGM", "dex(Msun)", gal, "identity", "log10 stellar mass"),
        ("LOGSFR", "dex(Msun/yr)", gal, "identity", "log10 star-formation rate"),
        ("HALPHA_6562_EW", "Angstrom", gal, "asinh_ew", "rest-frame EW of Halpha (emission > 0)"),
        ("HBETA_4861_EW", "Angstrom", gal, "asinh_ew", "rest-frame EW of Hbeta"),
        ("OIII_5007_EW", "Angstrom", gal, "asinh_ew", "rest-frame EW of [OIII]5007"),
        ("NII_6584_EW", "Angstrom", gal, "asinh_ew", "rest-frame EW of [NII]6584"),
        ("HALPHA_CONT", "", gal, "identity", "continuum f_lambda at observed Halpha / f_lambda(iSDSS)"),
        ("HBETA_CONT", "", gal, "identity", "continuum f_lambda at observed Hbeta / f_lambda(iSDSS)"),
        ("Z_QSO", "", qso, "identity", "QSO spectroscopic redshift"),
        ("TEFF", "K", star, "identity", "stellar effective temperature"),
        ("LOGG", "dex(cm/s2)", star, "identity", "stellar surface gravity"),
        ("FEH", "dex", star, "identity", "stellar [Fe/H]"),
        ("ALPHAFE", "dex", star, "identity", "stellar [alpha/Fe]"),
    ]
    tokens += [Token(n, REGRESSION, u, applies_to=a, transform=t, is_label=True, description=d)
               for n, u, a, t, d in labels]
    return tokens


class Vocabulary:
    """An ordered set of tokens with lookups by name and kind.

    Parameters
    ----------
    tokens : iterable of Token
        Token order defines token ids (0 … n-1).
    """

    def __init__(self, tokens: Iterable[Token]):
        self.tokens: tuple[Token, ...] = tuple(tokens)
        self._index = {t.name: i for i, t in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            raise ValueError("duplicate token names in vocabulary")

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> Token:
        try:
            return self.tokens[self._index[name]]
        except KeyError:
            raise KeyError(f"token '{name}' is not in the vocabulary") from None

    def index(self, name: str) -> int:
        """Token id of `name`."""
        self[name]
        return self._index[name]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tokens]

    def names_of_kind(self, kind: str) -> list[str]:
        return [t.name for t in self.tokens if t.kind == kind]

    @property
    def narrow_bands(self) -> list[str]:
        return self.names_of_kind(NB_FLUX)

    @property
    def broad_band_magnitudes(self) -> list[str]:
        return self.names_of_kind(MAGNITUDE)

    @property
    def labels(self) -> list[str]:
        return [t.name for t in self.tokens if t.is_label]

    def tray(self, tray: str) -> list[str]:
        """Narrow bands of a J-PAS tray ('T1' … 'T4')."""
        if tray not in TRAYS:
            raise KeyError(f"unknown tray '{tray}'; known: {', '.join(TRAYS)}")
        return [b for b in TRAYS[tray] if b in self]

    def with_tokens(self, extra: Iterable[Token]) -> "Vocabulary":
        """A new vocabulary with `extra` tokens appended (existing ids unchanged)."""
        return Vocabulary(self.tokens + tuple(extra))

    def to_records(self) -> list[dict]:
        """Plain records (for config files and documentation)."""
        return [dict(asdict(t), pivot_wavelength=t.pivot_wavelength) for t in self.tokens]

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> "Vocabulary":
        fields = Token.__dataclass_fields__
        return cls(Token(**{k: (tuple(v) if isinstance(v, list) else v)
                            for k, v in r.items() if k in fields}) for r in records)


DEFAULT_VOCABULARY = Vocabulary(_default_tokens())
