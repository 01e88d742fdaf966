"""Datashaded diagnostic diagrams (BPT, WHAN, SFMS, colour–magnitude, the UMAP map) with box
and lasso selection, click-to-open, and a colour-by choice. Not for single objects.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import matplotlib
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh import events
from bokeh.models import ColumnDataSource, HoverTool
from holoviews.operation.datashader import datashade, dynspread, rasterize, shade

from ojala_core.constants import speagle14_log_sfr
from ojala_core.diagnostics import BPT_CURVES, WHAN_CUTS, bpt_curve

from ..state import SUBSET_COLOURS
from .locking import edit_in_document_lock

__all__ = ["DiagramView", "DIAGRAMS", "CLASS_COLOURS"]

CLASS_COLOURS = {"GALAXY": "#1f77b4", "QSO": "#d62728", "STAR": "#ff7f0e"}
_SUBSET_KEY = {colour: colour for colour in SUBSET_COLOURS}     # kept subsets are drawn by their colour
TAP_RADIUS_PX = 12          # a click opens (the pointer shows) the nearest shown object only if this close on screen
# The hover tooltip of the object under the pointer (z is Z_QSO for QSOs, Z_GAL for galaxies, none for stars).
HOVER_FIELDS = ("JPAS_ID", "CLASS", "P_CLASS", "Z_SHOWN", "MAG_i")
HOVER_TOOLTIPS = [("ID", "@JPAS_ID"), ("class", "@CLASS"), ("P(class)", "@P_CLASS{0.000}"),
                  ("z", "@Z_SHOWN{0.000}"), ("i", "@MAG_i{0.00}")]
_CURVE_STYLE = {"Ke01": "solid", "Ka03": "dashed", "S06": "dotted"}


def _extent(values) -> tuple:
    """(min, max) of finite `values`, widened when they are one value; (0, 1) when there are none."""
    if not len(values):
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def _bpt_overlay():
    curves = []
    for name in BPT_CURVES:
        x = np.linspace(-2.0, 0.45 if name == "Ke01" else 0.04, 200) if name != "S06" else np.linspace(-2.0, 0.6, 200)
        y = bpt_curve(name, x)
        ok = np.isfinite(y) & (y < 1.6) & (y > -1.6)
        curves.append(hv.Curve((x[ok], y[ok]), "LOG_NII_HA", "LOG_OIII_HB", label=name)
                      .opts(color="black", line_dash=_CURVE_STYLE[name], line_width=1.5))
    return hv.Overlay(curves)


def _whan_overlay():
    x_sf, ew_p, ew_s = WHAN_CUTS["x_sf"], WHAN_CUTS["ew_passive"], WHAN_CUTS["ew_strong_agn"]
    style = dict(color="black", line_width=1.2)
    return hv.Overlay([
        hv.Curve(([x_sf, x_sf], [np.log10(ew_p), 3.0]), "LOG_NII_HA", "LOG_HALPHA_EW").opts(**style),
        hv.Curve(([-2.0, 1.0], [np.log10(ew_p)] * 2), "LOG_NII_HA", "LOG_HALPHA_EW").opts(**style),
        hv.Curve(([x_sf, 1.0], [np.log10(ew_s)] * 2), "LOG_NII_HA", "LOG_HALPHA_EW").opts(line_dash="dashed", **style),
    ])


def _sfms_overlay():
    """Speagle et al. (2014) main sequence at z = 0.1 and z = 0.5 (legend "S14", short: the legend sits in a
    corner of the frame)."""
    curves = []
    logm = np.linspace(8.5, 11.5, 50)
    for z, dash in ((0.1, "solid"), (0.5, "dashed")):
        curves.append(hv.Curve((logm, speagle14_log_sfr(logm, z)), "LOGM", "LOGSFR",
                               label=f"S14 z={z}").opts(color="black", line_dash=dash))
    return hv.Overlay(curves)


class shade_or_blank(datashade):
    """`datashade` that draws a transparent image when no point falls in the view.

    HoloViews 1.23 fails on an all-empty aggregate (CoordinateValidationError in `shade`:
    the blank image's axes are swapped), and the plot then ignores every later update, so
    an empty selection or no ticked class would blank the diagram until a reload.
    """

    def _process(self, element, key=None):
        agg = rasterize._process(self, element, key)
        counts = np.stack([np.nan_to_num(agg.dimension_values(d, flat=True)) for d in agg.vdims])
        if (counts > 0).any():
            return shade._process(self, agg, key)
        xs, ys = (agg.dimension_values(k, expanded=False) for k in range(2))
        blank = np.zeros((len(ys), len(xs)), dtype=np.uint8)
        # four channels: without the alpha one the blank image is opaque black
        return hv.RGB((xs, ys, blank, blank, blank, blank), kdims=agg.kdims, vdims=[*hv.RGB.vdims, hv.Dimension("A")])


@dataclass
class DiagramSpec:
    """A 2-D diagram: axis columns, fixed ranges (None = from the data), reference overlay, and where its
    legend goes (None: no legend) — a corner the physics leaves empty."""
    name: str
    x: str
    y: str
    xlabel: str
    ylabel: str
    x_range: tuple | None = None
    y_range: tuple | None = None
    overlay: callable = field(default=None)
    legend: str | None = None


DIAGRAMS = {
    "BPT": DiagramSpec("BPT", "LOG_NII_HA", "LOG_OIII_HB", "log [NII]/Hα", "log [OIII]/Hβ", (-2.0, 1.0),
                       (-1.5, 1.5), _bpt_overlay,
                       legend="bottom_left"),       # low [NII]/Hα and low [OIII]/Hβ: no galaxy lies there
    "WHAN": DiagramSpec("WHAN", "LOG_NII_HA", "LOG_HALPHA_EW", "log [NII]/Hα", "log EW(Hα) [Å]", (-2.0, 1.0),
                        (-1.0, 3.0), _whan_overlay),
    "SFMS": DiagramSpec("SFMS", "LOGM", "LOGSFR", "log M* [Msun]", "log SFR [Msun/yr]", (7.5, 12.5), (-4.0, 3.0),
                        _sfms_overlay, legend="top_left"),   # low mass and a high SFR: far above the sequence
    "CMD": DiagramSpec("CMD", "MAG_i", "G_R", "i (J-PAS iSDSS) [AB]", "g − r (Legacy)", None, (-0.5, 2.5)),
    "UMAP": DiagramSpec("UMAP", "UMAP_X", "UMAP_Y", "UMAP 1", "UMAP 2"),
}


class DiagramView(pn.viewable.Viewer):
    """One datashaded diagram of the shown objects over the filtered ones (grey).

    A box or lasso drag selects the objects inside (in this diagram's coordinates); a
    click opens the nearest shown object within `TAP_RADIUS_PX` screen pixels, and the
    pointer rings that object with a tooltip (ID, class, P(class), z, i).
    """

    colour_by = param.Selector(default="class", objects=["class", "density"])

    def __init__(self, state, spec: DiagramSpec, height=300, width=380, **params):
        super().__init__(**params)
        self.state, self.spec = state, spec
        self.height, self.width = height, width
        self.param.colour_by.objects = ["class", "density"] + state.store.numeric_columns()
        self._sources = None                # (marker, hover ring, outline) ColumnDataSources of the current figure
        self._shown_source = None           # the shown objects' image of the current figure (class / density)
        self._pane = pn.pane.HoloViews(self._build(), sizing_mode="fixed", height=height, width=width,
                                       linked_axes=False, css_classes=[f"diagram-{spec.name}"])
        self.param.watch(lambda *_: setattr(self._pane, "object", self._build()), "colour_by")
        state.param.watch(lambda event: self._show_marker(event.new), "current_row")
        state.param.watch(lambda event: self._show_outline(event.new), "selection_region")
        state.param.watch(self._redraw_shown, "version")

    def _points(self, mask_name, trigger):
        def points(**_):
            store = self.state.store
            x, y = self._xy()
            rows = np.flatnonzero(getattr(self.state, mask_name) & np.isfinite(x) & np.isfinite(y))
            cls = self.state.frame["CLASS"].array          # taken by code: no string per object
            data = {self.spec.x: x[rows], self.spec.y: y[rows],
                    "CLASS": pd.Categorical.from_codes(cls.codes[rows], cls.categories)}
            if self.colour_by not in ("class", "density", self.spec.x, self.spec.y):
                data[self.colour_by] = store.column(self.colour_by)[rows]
            return hv.Points(pd.DataFrame(data), kdims=[self.spec.x, self.spec.y],
                             vdims=[c for c in data if c not in (self.spec.x, self.spec.y)])
        return hv.DynamicMap(points, streams=[hv.streams.Params(self.state, [trigger])])

    def _image(self, mask_name, how, x_range=None, y_range=None, width=None, height=None):
        """The objects of `mask_name` rasterised and shaded by datashader in one step for the given ranges
        (None: the fixed ones, else the filtered objects' extent) and frame size: (uint32 RGBA image,
        (x0, x1), (y0, y1)). `how`: "grey", "class" or "density"."""
        spec = self.spec
        x, y = self._xy()
        finite = np.isfinite(x) & np.isfinite(y)
        rows = np.flatnonzero(getattr(self.state, mask_name) & finite)
        ranges = [now or fixed or _extent(v[self.state.filter_mask & finite])
                  for now, fixed, v in ((x_range, spec.x_range, x), (y_range, spec.y_range, y))]
        canvas = ds.Canvas(plot_width=max(int(width or self.width - 90), 10),
                           plot_height=max(int(height or self.height - 80), 10), x_range=ranges[0], y_range=ranges[1])
        cls = self.state.frame["CLASS"].array                    # taken by code: no string per object
        frame = pd.DataFrame({"x": x[rows], "y": y[rows],
                              "CLASS": pd.Categorical.from_codes(cls.codes[rows], cls.categories)})
        if how == "class":
            agg = canvas.points(frame, "x", "y", ds.count_cat("CLASS"))
            # min_alpha: a lone object of a class stays as visible as its colour (default 40 is near white)
            shade_image = functools.partial(tf.shade, color_key=CLASS_COLOURS, min_alpha=160)
        else:
            agg = canvas.points(frame, "x", "y")
            # grey: the filtered objects under the shown ones; min_alpha keeps a lone one visible
            shade_image = functools.partial(tf.shade, cmap=["#d0d0d0", "#8a8a8a"], min_alpha=110) \
                if how == "grey" else functools.partial(tf.shade, cmap=matplotlib.colormaps["viridis"], how="eq_hist")
        if float(agg.sum()) > 0:
            image = shade_image(agg)
            image = image if how == "grey" else tf.dynspread(image, threshold=0.8)
        else:        # nothing in view: a transparent image (shade fails on an empty aggregate)
            image = tf.Image(np.zeros(agg.shape[:2], dtype=np.uint32), coords={"x": agg.x, "y": agg.y},
                             dims=["y", "x"])
        return image, ranges[0], ranges[1]

    def _shaded(self, mask_name, trigger, how):
        """One HoloViews RGB image of the objects of `mask_name` (see `_image`), redrawn when `trigger`
        changes and for the plot's current ranges and size. (HoloViews' datashade/dynspread chain did the
        same in three operations whose overhead, not the aggregation, was most of a selection's server time.)"""
        spec = self.spec

        def draw(x_range=None, y_range=None, width=None, height=None, **_):
            image, _, _ = self._image(mask_name, how, x_range, y_range, width, height)
            rgba = shade.uint32_to_uint8_xr(image).rename({"x": spec.x, "y": spec.y})
            return hv.RGB(rgba, kdims=[spec.x, spec.y], vdims=[*hv.RGB.vdims, hv.Dimension("A")])
        return hv.DynamicMap(draw, streams=[hv.streams.Params(self.state, [trigger]), hv.streams.RangeXY(),
                                            hv.streams.PlotSize()])

    # -- the shown objects in colour: a Bokeh image of their own, not a HoloViews layer --
    # A selection changes only this image's data source. As a HoloViews layer the same change re-ran
    # the whole overlay (subsets, legend, reference lines, ranges): about 4/5 of a selection's server time.
    def _shown_data(self) -> dict:
        """Data of the shown-objects image for the plot's current ranges and frame size."""
        image, (x0, x1), (y0, y1) = self._image("mask", self.colour_by, self._view.x_range, self._view.y_range,
                                                self._frame.width, self._frame.height)
        return {"image": [image.data], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}

    def _redraw_shown(self, *_, **__):
        """Recompute the shown-objects image now (a selection's server time counts it) and send it in the lock."""
        source = self._shown_source
        if source is not None and source.document is not None:
            self._push(source, self._shown_data())

    def _class_legend(self):
        """Legend entries of the class colours (the shaded image has none of its own), for the classes this
        diagram can show (the BPT and the SFMS have galaxies only)."""
        x, y = self._xy()
        cls = self.state.frame["CLASS"].array
        codes = cls.codes[np.isfinite(x) & np.isfinite(y)]
        drawn = {cls.categories[k] for k in np.flatnonzero(np.bincount(codes[codes >= 0],
                                                                         minlength=len(cls.categories)))}
        # A point at NaN draws nothing in the frame but gives the legend its coloured swatch.
        return hv.Overlay([hv.Points([(np.nan, np.nan)], [self.spec.x, self.spec.y], label=name).opts(
                               color=colour, size=8)
                           for name, colour in CLASS_COLOURS.items()
                           if name in self.state.param.classes.objects and name in drawn])

    def _build(self):
        spec = self.spec
        ranges = {k: v for k, v in (("x_range", spec.x_range), ("y_range", spec.y_range)) if v}
        background = self._shaded("filter_mask", "filter_version", "grey")
        opts = dict(tools=["box_select", "lasso_select", "tap"], active_tools=["box_select"],
                    xlabel=spec.xlabel, ylabel=spec.ylabel, title=spec.name, responsive=False,
                    height=self.height, width=self.width)
        if self.colour_by in ("class", "density"):
            # the shown objects are this view's own image (`_own_glyphs`); the grey layer carries the tools
            fg = background = background.opts(**opts, hooks=[self._follow_shift])
            layers = background
        else:
            fg = rasterize(self._points("mask", "version"), aggregator=ds.mean(self.colour_by), **ranges).opts(
                cmap="plasma", colorbar=True, clabel=self.colour_by).opts(**opts, hooks=[self._follow_shift])
            layers = background.opts(**opts) * fg
        for stream, callback in ((hv.streams.BoundsXY, self._on_box), (hv.streams.Lasso, self._on_lasso),
                                 (hv.streams.Tap, self._on_tap)):
            stream(source=fg).add_subscriber(callback)
        self._view = hv.streams.RangeXY(source=fg)          # what the plot shows, for click distances
        self._frame = hv.streams.PlotSize(source=fg)
        self._view.add_subscriber(self._redraw_shown)      # a zoom or pan redraws the shown objects
        kept = hv.DynamicMap(self._subset_points,
                             streams=[hv.streams.Params(self.state, ["subsets", "filter_version"])])
        kept = dynspread(shade_or_blank(kept, aggregator=ds.count_cat("SUBSET"), color_key=_SUBSET_KEY, min_alpha=200,
                                        **ranges), threshold=0.8).opts(**opts, show_legend=False)
        hv.streams.PointerXY(source=fg).add_subscriber(self._on_pointer)
        plot = layers * kept
        if self.colour_by == "class":
            plot = plot * self._class_legend()
        if spec.overlay is not None:
            plot = plot * spec.overlay()
        # a compact legend (small rows, translucent) in the corner the spec names
        return plot.opts(legend_position=spec.legend or "bottom_right", show_legend=spec.legend is not None,
                         legend_opts={"label_text_font_size": "8pt", "glyph_height": 12, "glyph_width": 18,
                                      "label_height": 12, "spacing": 0, "padding": 4, "margin": 4,
                                      "background_fill_alpha": 0.6},
                         hooks=[self._own_glyphs])

    def _subset_points(self, **_):
        """The filtered objects of the kept subsets, each in its subset's colour (the last kept wins)."""
        state = self.state
        x, y = self._xy()
        colour = np.full(len(x), -1, dtype=np.int8)                  # index into SUBSET_COLOURS
        for subset in state.subsets.values():
            colour[subset["rows"]] = SUBSET_COLOURS.index(subset["colour"])
        rows = np.flatnonzero((colour >= 0) & state.filter_mask & np.isfinite(x) & np.isfinite(y))
        data = pd.DataFrame({self.spec.x: x[rows], self.spec.y: y[rows],
                             "SUBSET": pd.Categorical.from_codes(colour[rows], list(SUBSET_COLOURS))})
        points = hv.Points(data, kdims=[self.spec.x, self.spec.y], vdims=["SUBSET"])
        if len(rows) == 0:         # no extent of its own: borrow the diagram's, or rasterize has none
            finite = np.isfinite(x) & np.isfinite(y) & state.filter_mask
            extent = {d: fixed or ((float(v[finite].min()), float(v[finite].max())) if finite.any() else (0.0, 1.0))
                      for d, v, fixed in ((self.spec.x, x, self.spec.x_range), (self.spec.y, y, self.spec.y_range))}
            points = points.redim.range(**extent)
        return points

    # -- the open object's marker, the hover ring, the selection's outline: Bokeh glyphs of their own --
    # A click or a pointer move changes one small data source; the datashaded images are not redrawn
    # (as a HoloViews layer, every click re-rendered and re-sent every diagram's images).
    def _own_glyphs(self, plot, element):
        """Once per figure, after HoloViews drew every layer: the shown objects' image just above the grey
        layer (under the subsets and the reference lines), and the marker, hover ring and outline on top."""
        figure = plot.state
        if self.colour_by in ("class", "density") and getattr(figure, "_ojala_shown", None) is None:
            figure._ojala_shown = ColumnDataSource(self._shown_data())
            shown = figure.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=figure._ojala_shown,
                                     name="shown-objects")
            figure.renderers = [figure.renderers[0], shown, *figure.renderers[1:-1]]
        self._shown_source = getattr(figure, "_ojala_shown", None)
        if getattr(figure, "_ojala_pointer", None) is None:
            marker = ColumnDataSource({"x": [], "y": []})
            figure.scatter("x", "y", source=marker, marker="x", size=16, color="magenta", line_width=3)
            ring = ColumnDataSource({name: [] for name in ("x", "y", *HOVER_FIELDS)})
            rings = figure.scatter("x", "y", source=ring, size=13, fill_alpha=0.0, line_color="black", line_alpha=0.7,
                                   line_width=1.5)
            figure.add_tools(HoverTool(renderers=[rings], tooltips=HOVER_TOOLTIPS))
            outline = ColumnDataSource({"xs": [], "ys": []})
            figure.multi_line("xs", "ys", source=outline, line_color="black", line_dash="dashed", line_width=1.5,
                              name="selection-outline")
            figure._ojala_pointer = (marker, ring, outline)
        if self._sources is not figure._ojala_pointer:
            self._sources = figure._ojala_pointer
            marker, _, outline = self._sources
            marker.data = self._marker_data(self.state.current_row)
            outline.data = self._outline_data(self.state.selection_region)

    @staticmethod
    def _push(source, data):
        """Set a data source's data inside the document lock (see `locking`)."""
        edit_in_document_lock(source, lambda: setattr(source, "data", data))

    def _marker_data(self, row) -> dict:
        if row is not None:
            x, y = (float(v[row]) for v in self._xy())
            if np.isfinite(x) and np.isfinite(y):
                return {"x": [x], "y": [y]}
        return {"x": [], "y": []}

    def _show_marker(self, row):
        if self._sources is not None:
            self._push(self._sources[0], self._marker_data(row))

    def _outline_data(self, region) -> dict:
        """The outlines, in this diagram's coordinates, of the boxes and lassos of the selection drawn here
        (a combination's parts drawn in other diagrams are theirs to show)."""
        parts = [part for _, part in region["combine"]] if region and "combine" in region else [region] if region \
            else []
        xs, ys = [], []
        for part in parts:
            if part.get("diagram") != self.spec.name or part.get("x") != self.spec.x or part.get("y") != self.spec.y:
                continue
            if "polygon" in part:
                polygon = [*part["polygon"], part["polygon"][0]]
                xs.append([float(p[0]) for p in polygon])
                ys.append([float(p[1]) for p in polygon])
            else:
                (x0, x1), (y0, y1) = part["x_range"], part["y_range"]
                xs.append([x0, x1, x1, x0, x0])
                ys.append([y0, y0, y1, y1, y0])
        return {"xs": xs, "ys": ys}

    def _show_outline(self, region):
        """Keep the selection's box or lasso on screen (dashed) until the selection changes."""
        if self._sources is not None:
            self._push(self._sources[2], self._outline_data(region))

    def _xy(self):
        return self.state.plot_column(self.spec.x), self.state.plot_column(self.spec.y)

    def _follow_shift(self, plot, element):
        """Shift-drag adds to the selection: Bokeh's selection events carry no keys, but the press that
        starts a drag (PanStart) does, and reaches the server before the drag's selection."""
        figure = plot.state
        if not getattr(figure, "_follows_shift", False):
            figure.on_event(events.PanStart, lambda event: setattr(
                self.state, "shift_held", bool((event.modifiers or {}).get("shift"))))
            figure._follows_shift = True

    def _on_box(self, bounds=None, **_):
        if not bounds:
            return
        x0, y0, x1, y1 = (float(b) for b in bounds)
        spec = self.spec
        self.state.select_region({"diagram": spec.name, "x": spec.x, "y": spec.y, "x_range": [x0, x1],
                                  "y_range": [y0, y1]}, self.state.drag_mode())

    def _on_lasso(self, geometry=None, **_):
        if geometry is None or len(geometry) < 3:
            return
        spec = self.spec             # the polygon in diagram coordinates: re-applicable to another VAC
        self.state.select_region({"diagram": spec.name, "x": spec.x, "y": spec.y,
                                  "polygon": np.asarray(geometry, dtype=float).tolist()}, self.state.drag_mode())

    def _nearest_shown(self, x, y) -> int | None:
        """VAC row of the shown object nearest to (x, y) within `TAP_RADIUS_PX` on screen, else None."""
        if x is None or y is None:
            return None
        xs, ys = self._xy()
        (x0, x1), (y0, y1) = self._shown_ranges(xs, ys)
        width, height = self._frame.width or self.width - 90, self._frame.height or self.height - 80
        # Only objects within the tap radius on both axes can be near: one vectorised pass over the columns
        # (about 40 ms at 10⁷ objects), no sorted copy to keep per selection.
        reach_x, reach_y = TAP_RADIUS_PX * (x1 - x0) / width, TAP_RADIUS_PX * (y1 - y0) / height
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(self.state.mask & (np.abs(xs - x) <= reach_x) & (np.abs(ys - y) <= reach_y))
        if len(rows) == 0:
            return None
        d2 = ((xs[rows] - x) / (x1 - x0) * width) ** 2 + ((ys[rows] - y) / (y1 - y0) * height) ** 2
        nearest = int(np.argmin(d2))
        return int(rows[nearest]) if d2[nearest] <= TAP_RADIUS_PX ** 2 else None

    def _on_tap(self, x=None, y=None, **_):
        row = self._nearest_shown(x, y)
        if row is not None:                     # a click on empty space opens nothing
            self.state.current_row = row

    def _on_pointer(self, x=None, y=None):
        """Ring the object under the pointer; the ring's Bokeh hover shows its ID, class, P(class), z and
        i: the datashaded layers hold no points in the browser, so the lookup is done here, on the
        server, as the pointer moves."""
        if self._sources is None:
            return
        row = self._nearest_shown(x, y)
        data = {name: [] for name in ("x", "y", *HOVER_FIELDS)}
        if row is not None:
            frame = self.state.frame
            cls = str(frame["CLASS"].iloc[row])
            px, py = (float(v[row]) for v in self._xy())
            values = {"x": px, "y": py, "JPAS_ID": str(frame["JPAS_ID"].iloc[row]), "CLASS": cls,
                      "P_CLASS": float(frame[f"P_{cls}"].iloc[row]) if f"P_{cls}" in frame else np.nan,
                      "Z_SHOWN": float(self.state.redshift[row]), "MAG_i": float(frame["MAG_i"].iloc[row])}
            data = {name: [values[name]] for name in data}
        self._push(self._sources[1], data)

    def _shown_ranges(self, xs, ys):
        """(x0, x1), (y0, y1) on screen: the plot's own ranges, else the fixed ones, else those of the shown
        objects' finite values."""
        ranges = []
        for now, fixed, values in ((self._view.x_range, self.spec.x_range, xs),
                                   (self._view.y_range, self.spec.y_range, ys)):
            lo, hi = now or fixed or _extent(values[self.state.mask & np.isfinite(values)])
            ranges.append((lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
        return ranges

    def __panel__(self):
        return pn.Column(pn.widgets.Select.from_param(self.param.colour_by, name=f"{self.spec.name}: colour by",
                                                      width=200), self._pane)
