"""The emission-line table: every line OJALA knows, with what each consumer needs of it.

One row per line (rest wavelength, bagpipes/Cloudy name, FastSpecFit column prefix, the
vocabulary tokens of its EW and continuum, Calzetti k). The vocabulary makes its EW and
continuum tokens from this table; the sky, the mocks, the VAC and the explorer look lines
up here. Not for the diagnostic curves (see `diagnostics`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EmissionLine", "EMISSION_LINES", "MEASURED_LINES", "line", "lines_with_ew"]


@dataclass(frozen=True)
class EmissionLine:
    """One emission line.

    Attributes
    ----------
    name : str
        FastSpecFit column prefix (``{name}_EW``, ``{name}_CONT``, ``{name}_FLUX`` in its VAC),
        also the key of this table and of the VAC's derived ``{name}_FLUX`` columns.
    wavelength : float
        Rest-frame (air) wavelength [Å].
    cloudy : str
        bagpipes (Cloudy) name of the line in ``model_galaxy.line_fluxes``.
    label : str
        Name for plots.
    ew_token : str or None
        Vocabulary token of its rest-frame EW [Å] (None: the line is only drawn, not modelled).
    continuum_token : str or None
        Vocabulary token of the continuum its flux is made with (DESIGN §9: [OIII] with Hβ's,
        [NII] with Hα's). The token belongs to the line of the same name.
    calzetti_k : float or None
        Calzetti et al. (2000) k(λ) = A(λ)/E(B−V) at the line (R_V = 4.05).
    marked : bool
        Marked on the explorer's J-spectrum (False for a doublet's weaker member, whose label
        would sit on its partner's at narrow-band resolution).
    """

    name: str
    wavelength: float
    cloudy: str
    label: str
    ew_token: str | None = None
    continuum_token: str | None = None
    calzetti_k: float | None = None
    marked: bool = True

    @property
    def owns_continuum(self) -> bool:
        """True when the continuum token is this line's own (``{name}_CONT``)."""
        return self.continuum_token == f"{self.name}_CONT"


# Wavelengths: air, as FastSpecFit and Cloudy tabulate them. k: Calzetti et al. (2000), eq. 4.
_LINES = (
    EmissionLine("HALPHA", 6562.80, "H  1  6562.80A", "Hα", "HALPHA_6562_EW", "HALPHA_CONT", 3.33),
    EmissionLine("HBETA", 4861.32, "H  1  4861.32A", "Hβ", "HBETA_4861_EW", "HBETA_CONT", 4.60),
    EmissionLine("OIII_5007", 5006.84, "O  3  5006.84A", "[OIII]", "OIII_5007_EW", "HBETA_CONT", 4.46),
    EmissionLine("NII_6584", 6583.45, "N  2  6583.45A", "[NII]", "NII_6584_EW", "HALPHA_CONT", 3.32),
    EmissionLine("OIII_4959", 4958.91, "O  3  4958.91A", "[OIII]4959", marked=False),
    EmissionLine("NII_6548", 6548.05, "N  2  6548.05A", "[NII]6548", marked=False),
    EmissionLine("OII_3727", 3727.42, "O  2  3726.03A", "[OII]"),
)

EMISSION_LINES: dict[str, EmissionLine] = {ln.name: ln for ln in _LINES}
# Lines with a modelled EW, in table order: measured on the sky's spectra, labels in the mocks.
MEASURED_LINES: tuple[str, ...] = tuple(ln.name for ln in _LINES if ln.ew_token)


def line(name: str) -> EmissionLine:
    """The row of line `name` (e.g. 'HALPHA'), with the known names in the error."""
    try:
        return EMISSION_LINES[name]
    except KeyError:
        raise KeyError(f"unknown emission line '{name}'; known: {', '.join(EMISSION_LINES)}") from None


def lines_with_ew() -> list[EmissionLine]:
    """Rows of the lines whose EW is a vocabulary token, in table order."""
    return [EMISSION_LINES[n] for n in MEASURED_LINES]
