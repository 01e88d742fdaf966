"""The open object: its J-spectrum with the model's reconstruction of each band (that band
hidden) and ±1σ, emission lines at the predicted redshift, the DESI spectrum and values when
cross-matched, broad-band magnitudes, predictions with errors and class probabilities.
"""
from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from ojala_core.constants import EMISSION_LINES
from ojala_core.model.inference import DEFAULT_TARGETS
from ojala_core.model.whatif import reconstruct_bands
from ojala_core.vac.store import LABEL_PREFIX

__all__ = ["ObjectView", "jspectrum_plot", "fnu_microjansky"]

_MICROJY = 1e29                      # erg s⁻¹ cm⁻² Hz⁻¹ -> μJy
_C_ANGSTROM = 2.99792458e18
_QSO_LINES = {"Lyα": 1215.67, "CIV": 1549.06, "CIII]": 1908.73, "MgII": 2798.75}


def fnu_microjansky(ratio, fnu_isdss):
    """NB token values (f_ν / f_ν(iSDSS)) back to f_ν [μJy]."""
    return np.asarray(ratio, dtype=float) * float(fnu_isdss) * _MICROJY


def _pivots(model, bands):
    return np.array([model.vocabulary[b].pivot_wavelength for b in bands])


def jspectrum_plot(model, token_row: pd.DataFrame, recon: pd.DataFrame | None, z=None, cls=None,
                   desi=None, height=300, width=560, title=""):
    """HoloViews overlay: observed NB f_ν with errors, reconstruction ±1σ, lines, DESI spectrum."""
    bands = list(recon.index) if recon is not None else model.vocabulary.narrow_bands
    wave = _pivots(model, bands)
    scale = token_row["FNU_iSDSS"].iat[0]
    obs = fnu_microjansky([token_row[b].iat[0] for b in bands], scale)
    err = fnu_microjansky([token_row[f"{b}_ERR"].iat[0] for b in bands], scale)
    ok = np.isfinite(obs) & np.isfinite(err)
    layers = []
    if desi is not None:
        layers.append(hv.Curve(desi, "wavelength", "fnu", label="DESI (scaled)").opts(color="#7f7f7f", alpha=0.7))
    if recon is not None:
        mean = fnu_microjansky(recon["VALUE"], scale)
        sigma = fnu_microjansky(recon["ERR"], scale)
        layers.append(hv.Spread((wave, mean, sigma), "wavelength", ["fnu", "sigma"], label="model ±1σ")
                      .opts(color="#2ca02c", alpha=0.3))
        layers.append(hv.Curve((wave, mean), "wavelength", "fnu", label="model (band hidden)")
                      .opts(color="#2ca02c"))
    layers.append(hv.ErrorBars((wave[ok], obs[ok], err[ok]), "wavelength", ["fnu", "err"]).opts(color="black"))
    layers.append(hv.Scatter((wave[ok], obs[ok]), "wavelength", "fnu", label="J-PAS").opts(color="black", size=5))
    if z is not None and np.isfinite(z):
        lines = _QSO_LINES if cls == "QSO" else {k: v["wavelength"] for k, v in EMISSION_LINES.items()
                                                 if k in ("HALPHA", "HBETA", "OIII_5007", "NII_6584", "OII_3727")}
        for name, rest in lines.items():
            observed = rest * (1 + z)
            if wave.min() - 100 < observed < wave.max() + 100:
                layers.append(hv.VLine(observed).opts(color="#d62728", line_dash="dotted", line_width=1))
                layers.append(hv.Text(observed, float(np.nanmax(obs[ok])) if ok.any() else 1.0, name,
                                      fontsize=8).opts(color="#d62728"))
    return hv.Overlay(layers).opts(xlabel="λ [Å]", ylabel="f_ν [μJy]", height=height, width=width, title=title,
                                   legend_position="top_left", show_grid=True, toolbar="above")


def desi_curve(spectra, targetid, wave_nb, obs_nb):
    """The DESI spectrum of `targetid` as f_ν [μJy], binned to ~8 Å and scaled to the NB photometry."""
    if spectra is None or targetid in (None, "", "nan"):
        return None
    got = spectra.spectrum(int(float(targetid)))
    if got is None:
        return None
    wave, flux, ivar = got
    edges = np.arange(wave.min(), wave.max(), 8.0)
    idx = np.digitize(wave, edges)
    good = ivar > 0
    sums = np.bincount(idx[good], weights=flux[good], minlength=len(edges) + 1)
    counts = np.bincount(idx[good], minlength=len(edges) + 1)
    keep = counts > 0
    centres = np.append(edges, edges[-1] + 8.0)[keep[:len(edges) + 1]] - 4.0
    flam = sums[keep] / counts[keep] * 1e-17
    fnu = flam * centres ** 2 / _C_ANGSTROM * _MICROJY
    ok = np.isfinite(obs_nb)
    model_at = np.interp(wave_nb[ok], centres, fnu)
    factor = np.nanmedian(obs_nb[ok] / model_at) if ok.any() else 1.0
    return centres, fnu * factor


class ObjectView(pn.viewable.Viewer):
    """Everything about `state.current_row`; says what is wrong instead of failing on a bad object."""

    def __init__(self, state, **params):
        super().__init__(**params)
        self.state = state
        self._reconstructions = {}
        self._body = pn.Column(pn.pane.Markdown("Click an object in a diagram or the table.", name="object-hint"),
                               sizing_mode="stretch_width")
        state.param.watch(self._update, "current_row")

    def _update(self, *_):
        try:
            self._body.objects = self._render(self.state.current_row)
        except Exception as exc:           # one bad object must not take the explorer down
            self._body.objects = [pn.pane.Alert(f"Cannot show this object: {exc}", alert_type="danger")]

    def _render(self, row):
        if row is None:
            return [pn.pane.Markdown("Click an object in a diagram or the table.")]
        s = self.state
        vac = s.frame.iloc[row]
        head = pn.pane.HTML(f'<h3 id="object-title" data-jpas-id="{vac["JPAS_ID"]}">Object {vac["JPAS_ID"]}</h3>')
        if pd.isna(vac["CLASS"]):
            return [head, pn.pane.Alert(f"Not predicted (QUALITY_FLAG {int(vac['QUALITY_FLAG'])}: duplicate id or "
                                        "too little photometry).", alert_type="warning")]
        tokens = s.tokens_of(row)
        if row not in self._reconstructions:
            self._reconstructions[row] = reconstruct_bands(s.model, tokens)
        recon = self._reconstructions[row]
        cls = str(vac["CLASS"])
        z = vac["Z_QSO"] if cls == "QSO" else (vac["Z_GAL"] if cls == "GALAXY" else None)
        bands = list(recon.index)
        wave = _pivots(s.model, bands)
        obs = fnu_microjansky(recon["OBSERVED"], tokens["FNU_iSDSS"].iat[0])
        desi = desi_curve(s.spectra, vac.get(LABEL_PREFIX + "TARGETID"), wave, obs)
        plot = jspectrum_plot(s.model, tokens, recon, z, cls, desi, title=f"J-spectrum — {cls}")
        return [head, pn.pane.HoloViews(plot, name="jspectrum", linked_axes=False),
                pn.Row(self._predictions(vac), pn.Column(self._probabilities(vac), self._broad_bands(tokens)))]

    def _predictions(self, vac):
        rows = []
        for name in DEFAULT_TARGETS[1:]:
            desi = vac.get(LABEL_PREFIX + name, np.nan)
            rows.append({"parameter": name, "OJALA": vac[name], "±1σ": vac[f"{name}_ERR"],
                         "DESI": desi if pd.notna(desi) else np.nan})
        table = pd.DataFrame(rows)
        return pn.widgets.Tabulator(table, disabled=True, show_index=False, width=380, height=330,
                                    formatters={c: {"type": "money", "precision": 3} for c in ("OJALA", "±1σ", "DESI")})

    def _probabilities(self, vac):
        probs = {c: float(vac[f"P_{c}"]) for c in self.state.param.classes.objects}
        bars = hv.Bars(list(probs.items()), "class", "P").opts(height=150, width=220, ylim=(0, 1), title="P(class)")
        return pn.pane.HoloViews(bars, linked_axes=False)

    def _broad_bands(self, tokens):
        names = [n for n in self.state.model.vocabulary.broad_band_magnitudes if n in tokens]
        text = " · ".join(f"{n[4:]} {tokens[n].iat[0]:.2f}" for n in names if np.isfinite(tokens[n].iat[0]))
        return pn.pane.Markdown(f"**Broad bands [AB]:** {text or 'none'}", width=220)

    def __panel__(self):
        return self._body
