"""The vocabulary: the one table of tokens (observables and parameters) OJALA knows.

Every other module asks this table for token names, kinds, wavelengths, units and
transforms; nothing else hard-codes them. Not for normalisation statistics (those are
fitted on a training set and stored with the weights).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Iterable

import numpy as np

from .filters import jpas_narrow_band_names, load_filter
from .lines import EMISSION_LINES, lines_with_ew

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
# Filters of the Legacy Surveys bands (DECam g, r, z) and their WISE forced photometry.
LEGACY_FILTER_PREFIXES = ("DECam_", "WISE_")
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
        physical target never sees another label in its context). Tokens that are not
        labels are observations.
    categories : tuple of str
        Category names for ``class`` tokens.
    description : str
    is_target : bool
        A default target: predicted by `predict`, written to the VAC, shown by the explorer
        and scored by `scoring` unless the caller asks for others.
    is_redshift : bool
        A redshift: its loss residual is divided by (1 + z), its scores are Δz/(1+z).
    line : str or None
        The emission line (a key of `lines.EMISSION_LINES`) whose EW or continuum this is.
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
    is_target: bool = False
    is_redshift: bool = False
    line: str | None = None

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
        Token("SPECTYPE", CLASS, categories=SPECTYPES, description="DESI spectral class"),
    ]
    gal, qso, star = ("GALAXY",), ("QSO",), ("STAR",)
    tokens += [
        Token("Z_GAL", REGRESSION, "", applies_to=gal, is_redshift=True, description="galaxy spectroscopic redshift"),
        Token("LOGM", REGRESSION, "dex(Msun)", applies_to=gal, description="log10 stellar mass"),
        Token("LOGSFR", REGRESSION, "dex(Msun/yr)", applies_to=gal, description="log10 star-formation rate"),
    ]
    # One EW token per modelled line and one continuum token per line that owns one (the line table).
    for ln in lines_with_ew():
        tokens.append(Token(ln.ew_token, REGRESSION, "Angstrom", applies_to=gal, transform="asinh_ew", line=ln.name,
                            description=f"rest-frame EW of {ln.label} (emission > 0)"))
    for ln in lines_with_ew():
        if ln.owns_continuum:
            tokens.append(Token(ln.continuum_token, REGRESSION, "", applies_to=gal, line=ln.name,
                                description=f"continuum f_lambda at observed {ln.label} / f_lambda(iSDSS)"))
    tokens += [
        Token("Z_QSO", REGRESSION, "", applies_to=qso, is_redshift=True, description="QSO spectroscopic redshift"),
        Token("TEFF", REGRESSION, "K", applies_to=star, description="stellar effective temperature"),
        Token("LOGG", REGRESSION, "dex(cm/s2)", applies_to=star, description="stellar surface gravity"),
        Token("FEH", REGRESSION, "dex", applies_to=star, description="stellar [Fe/H]"),
        Token("ALPHAFE", REGRESSION, "dex", applies_to=star, description="stellar [alpha/Fe]"),
    ]
    # Every spectroscopic label is a default target.
    return [replace(t, is_label=True, is_target=True) if t.kind == REGRESSION or t.name == "SPECTYPE" else t
            for t in tokens]


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
    def legacy_magnitudes(self) -> dict[str, str]:
        """Legacy Surveys / WISE band ('G', 'R', 'Z', 'W1', 'W2') -> its magnitude token."""
        return {t.name.removeprefix("MAG_"): t.name for t in self.tokens
                if t.kind == MAGNITUDE and t.filter.startswith(LEGACY_FILTER_PREFIXES)}

    @property
    def labels(self) -> list[str]:
        """Spectroscopic labels (never in the context of a label target)."""
        return [t.name for t in self.tokens if t.is_label]

    @property
    def observations(self) -> list[str]:
        """Tokens that are not labels: photometry and morphology (what inference sees by default)."""
        return [t.name for t in self.tokens if not t.is_label]

    @property
    def classes(self) -> list[str]:
        """Categorical tokens."""
        return self.names_of_kind(CLASS)

    @property
    def redshifts(self) -> list[str]:
        return [t.name for t in self.tokens if t.is_redshift]

    @property
    def targets(self) -> list[str]:
        """Default targets, in vocabulary order: what `predict`, the VAC and the explorer ask for."""
        return [t.name for t in self.tokens if t.is_target]

    def targets_for(self, spectype: str | None = None) -> list[str]:
        """Default regression targets meaningful for objects of class `spectype` (e.g. no z for a
        star); None: those of every class."""
        return [t.name for t in self.tokens if t.is_target and t.kind == REGRESSION
                and (spectype is None or not t.applies_to or spectype in t.applies_to)]

    def ew_token(self, line: str) -> str | None:
        """The EW token of emission line `line` (a key of `lines.EMISSION_LINES`), or None if absent."""
        name = EMISSION_LINES[line].ew_token
        return name if name in self else None

    @property
    def line_ew_tokens(self) -> dict[str, str]:
        """Emission line -> its EW token, for the lines whose EW this vocabulary has (line-table order)."""
        return {ln.name: ln.ew_token for ln in lines_with_ew() if ln.ew_token in self}

    def nearest_narrow_band(self, wavelength: float) -> str:
        """The narrow band whose pivot wavelength is nearest to `wavelength` [Å]."""
        return min(self.narrow_bands, key=lambda b: abs(self[b].pivot_wavelength - wavelength))

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
        """Tokens from plain records; roles a record predates are taken from the default token of its name."""
        fields = Token.__dataclass_fields__
        tokens = []
        for r in records:
            token = Token(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in r.items() if k in fields})
            older = [k for k in _ROLE_FIELDS if k not in r]
            if older and token.name in DEFAULT_VOCABULARY:
                token = replace(token, **{k: getattr(DEFAULT_VOCABULARY[token.name], k) for k in older})
            tokens.append(token)
        return cls(tokens)


# Fields added after the first saved models (v0.1 config.json files lack them).
_ROLE_FIELDS = ("is_target", "is_redshift", "line")


DEFAULT_VOCABULARY = Vocabulary(_default_tokens())
