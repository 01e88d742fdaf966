"""Validation on the current selection: predicted vs DESI value for any parameter (density,
bias, σ_NMAD, outliers) and the metric vs magnitude, for cross-matched objects.
"""
from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from holoviews.operation.datashader import rasterize

from ojala_core.metrics import regression_summary, sliding_bins
from ojala_core.vac.store import LABEL_PREFIX

from . import TabView

__all__ = ["ValidationView"]


class ValidationView(pn.viewable.Viewer, TabView):
    """Predicted vs DESI on the shown objects that have a DESI value."""

    parameter = param.Selector(default=None, objects=[])

    def __init__(self, state, **params):
        super().__init__(**params)
        self.state = state
        names = [n for n in state.store.label_names if n in state.frame]
        self.param.parameter.objects = names
        self.parameter = "Z_GAL" if "Z_GAL" in names else (names[0] if names else None)
        self.body = pn.Column()
        self.param.watch(self.refresh, "parameter")
        state.param.watch(self.refresh, "version")

    def update(self):
        if self.parameter is None:
            self.body.objects = [pn.pane.Markdown("No DESI values joined: start the explorer with `--mocks MOCKDIR`.")]
            return
        name = self.parameter
        frame = self.state.frame
        pred = frame[name].to_numpy(float)
        true = frame[LABEL_PREFIX + name].to_numpy(float)
        ok = self.state.mask & np.isfinite(pred) & np.isfinite(true)
        vocabulary = self.state.model.vocabulary
        redshift = name in vocabulary and vocabulary[name].is_redshift
        if ok.sum() < 2:
            self.body.objects = [pn.pane.Markdown(f"Fewer than 2 shown objects have a DESI {name}.")]
            return
        stats = regression_summary(pred[ok], true[ok], redshift=redshift)
        lo, hi = np.nanpercentile(np.concatenate([pred[ok], true[ok]]), [0.5, 99.5])
        points = hv.Points((true[ok], pred[ok]), [hv.Dimension("desi", label=f"DESI {name}"),
                                                  hv.Dimension("ojala", label=f"OJALA {name}")])
        density = rasterize(points, x_range=(lo, hi), y_range=(lo, hi)).opts(cmap="viridis", cnorm="log",
                                                                              colorbar=True, width=420, height=360)
        one = hv.Curve(([lo, hi], [lo, hi]), "desi", "ojala").opts(color="red", line_dash="dashed")
        mag = frame["MAG_i"].to_numpy(float)[ok]
        bins = sliding_bins(mag, lambda p, t: regression_summary(p, t, redshift=redshift)["sigma_nmad"],
                            pred[ok], true[ok], min_count=max(10, min(100, int(ok.sum()) // 10)))
        curve = hv.Curve([(c, v) for c, _, v in bins], "MAG_i", "σ_NMAD").opts(width=380, height=250,
                                                                              title="σ_NMAD vs i")
        text = " · ".join(f"{k} {v:.4g}" for k, v in stats.items() if isinstance(v, float))
        self.body.objects = [pn.pane.HTML(f"<p id='validation-stats' data-n='{int(ok.sum())}'>{name}: "
                                          f"n {int(ok.sum())} · {text}</p>"),
                             pn.Row(pn.pane.HoloViews(density * one, linked_axes=False),
                                    pn.pane.HoloViews(curve, linked_axes=False))]

    def __panel__(self):
        return pn.Column("### Validation against DESI (shown objects)",
                         pn.widgets.Select.from_param(self.param.parameter, width=220), self.body,
                         sizing_mode="stretch_width")
