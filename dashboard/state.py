"""The explorer's shared state: the loaded VAC and model, filters, the selection, the open object.

Every view reads this one object and writes its selection or clicked object here;
``version`` bumps whenever the set of shown objects changes, so views redraw once.
Not for drawing (see `dashboard.views`).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import param
from matplotlib.path import Path as PolygonPath

from ojala_core.vac.expression import Expression, ExpressionError
from ojala_core.vac.store import VacStore
from ojala_core.vocabulary import DEFAULT_VOCABULARY

__all__ = ["ExplorerState", "region_label", "SUBSET_KIND", "SELECTION_MODES", "SUBSET_COLOURS"]

SUBSET_KIND = "ojala-subset"        # the "kind" of a saved selection (definition + id list)
# How a new drag (or a recalled or loaded subset) meets the current selection, as TOPCAT's
# subset algebra: replace it, OR, AND, AND NOT. The value is the word shown in labels.
SELECTION_MODES = {"replace": "new", "add": "OR", "intersect": "AND", "subtract": "AND NOT"}
# Colours of the kept subsets, in the order they are kept (none is a class colour).
SUBSET_COLOURS = ("#2ca02c", "#9467bd", "#17becf", "#e377c2", "#8c564b", "#bcbd22", "#7f7f7f", "#000000")
UNDO_DEPTH = 50
URL_MAX_IDS = 200                   # a kept subset without a region travels in the URL as ids up to this many


def _as_mask(rows, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _sorted_rows(rows, n: int) -> np.ndarray:
    """`rows` (VAC rows < `n`) sorted, each once. Through a mask of `n` flags, not `np.unique`: its hash
    took 0.6 s for the 679,000 rows of one box on a 1 M VAC; a region's rows come sorted already."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1])):
        return rows
    return np.flatnonzero(_as_mask(rows, n))


def _combine(current: np.ndarray, new: np.ndarray, mode: str, n: int) -> np.ndarray:
    """Rows of `current` combined with `new` by `mode` (OR, AND, AND NOT; else `new`), sorted; rows < `n`."""
    if mode == "add":
        return np.flatnonzero(_as_mask(current, n) | _as_mask(new, n))
    if mode == "intersect":
        return np.flatnonzero(_as_mask(current, n) & _as_mask(new, n))
    if mode == "subtract":
        return np.flatnonzero(_as_mask(current, n) & ~_as_mask(new, n))
    return _sorted_rows(new, n)


def region_label(region: dict) -> str:
    """A selection region for people: the diagram, its axes and the bounds, rounded."""
    if "combine" in region:
        steps = region["combine"]
        text = region_label(steps[0][1])
        for mode, part in steps[1:]:
            text = f"({text}) {SELECTION_MODES[mode]} ({region_label(part)})"
        return text
    if "polygon" in region:
        return f"{region['diagram']} lasso ({len(region['polygon'])} vertices)"
    (x0, x1), (y0, y1) = region["x_range"], region["y_range"]
    return (f"{region['diagram']} box: {region['x']} in [{x0:.3g}, {x1:.3g}], "
            f"{region['y']} in [{y0:.3g}, {y1:.3g}]")


class ExplorerState(param.Parameterized):
    """Filters + selection + open object over one `VacStore`.

    The shown set is ``filters ∧ selection``: filters come from the sidebar widgets,
    the selection from a drag in any diagram, the similarity gallery, or nothing.
    """

    classes = param.ListSelector(default=[], objects=[], doc="classes shown")
    min_probability = param.Number(0.0, bounds=(0.0, 1.0), step=0.05, doc="lowest P of the predicted class")
    mag_range = param.Range((10.0, 30.0), doc="MAG_i range")
    z_range = param.Range((0.0, 7.0), doc="predicted redshift range (Z_GAL, or Z_QSO for QSOs)")
    column = param.Selector(default="", objects=[""], doc="filter on any numeric column")
    column_range = param.Range((-1e30, 1e30))
    expression = param.String("", doc="a row filter typed by the user, e.g. 'Z_GAL > 0.5 and P_QSO < 0.1'")
    expression_error = param.String("", doc="why `expression` was not applied ('' when it was)")
    selection = param.Parameter(None, doc="sorted rows picked in a view, or None")
    selection_label = param.String("no selection", doc="what the selection is, for people (rounded)")
    selection_region = param.Dict(None, allow_None=True,
                                  doc="the exact region of a box selection: diagram, columns and bounds")
    hidden_bands = param.List([], doc="tokens hidden in the what-if tab (marked on the J-spectrum)")
    current_row = param.Integer(None, allow_None=True, doc="the open object (VAC row)")
    open_id = param.String("", doc="JPAS_ID of the open object (kept in the page URL)")
    region = param.String("", doc="the selection region as JSON (kept in the page URL; '' for none)")
    selection_mode = param.Selector(default="replace", objects=list(SELECTION_MODES),
                                    doc="how a new selection meets the current one")
    shift_held = param.Boolean(False, doc="Shift was held at the press of the last drag: it adds to the selection "
                                          "(OR)")
    subsets = param.Dict({}, doc="kept subsets: name → {label, region (or None), rows, colour}")
    can_undo = param.Boolean(False, doc="there is a previous selection to go back to")
    subsets_text = param.String("", doc="the kept subsets as JSON (kept in the page URL; '' for none)")
    version = param.Integer(0, doc="bumps when the shown set (filters ∧ selection) changes")
    update_ms = param.Number(0.0, doc="server time of the last change of the shown set [ms], from the drag or "
                                      "filter to every view redrawn on the server")
    filter_version = param.Integer(0, doc="bumps when the filters change")

    def __init__(self, store: VacStore, model, spectra=None, **params):
        frame = store.frame
        classes = sorted(c for c in frame["CLASS"].dropna().unique())
        if not isinstance(frame["CLASS"].dtype, pd.CategoricalDtype):
            # Every class a category, present or not: datashader's count_cat then always has the
            # full category axis (a string column with one class shown gives a transparent image).
            frame["CLASS"] = frame["CLASS"].astype(pd.CategoricalDtype(classes))
        super().__init__(**params)
        self.store, self.model, self.spectra = store, model, spectra
        self._cache = {}
        self._change_started = None          # perf_counter of the start of a change of the shown set
        self._history = []                  # previous (selection, label, region), for undo
        self.param.classes.objects = classes
        self.classes = list(classes)
        mag = frame["MAG_i"].to_numpy()
        lo, hi = float(np.nanmin(mag)), float(np.nanmax(mag))
        self.param.mag_range.bounds = (np.floor(lo), np.ceil(hi))
        self.mag_range = (np.floor(lo), np.ceil(hi))
        self.param.column.objects = [""] + store.numeric_columns()
        z = self.redshift
        self.param.z_range.bounds = (0.0, float(np.ceil(np.nanmax(z)))) if np.isfinite(z).any() else (0.0, 7.0)
        self.z_range = self.param.z_range.bounds
        self.filter_mask = self._filters()
        self.mask = self.filter_mask.copy()
        self.param.watch(self._refilter, ["classes", "min_probability", "mag_range", "z_range", "column",
                                          "column_range", "expression"])
        self.param.watch(self._reselect, ["selection"])
        self.param.watch(self._on_current_row, ["current_row"])
        self.param.watch(self._on_open_id, ["open_id"])
        self.param.watch(self._on_region, ["region"])
        self.param.watch(self._on_subsets, ["subsets"])
        self.param.watch(self._on_subsets_text, ["subsets_text"])

    @property
    def frame(self):
        return self.store.frame

    def plot_column(self, name) -> np.ndarray:
        """Column `name` as the diagrams show and select it: NaN for objects whose predicted class the
        prediction does not apply to (no stellar mass or SFR for a star or a QSO: the model answers
        every query, the vocabulary says whose answers mean something)."""
        key = ("plot_column", name)
        if key not in self._cache:
            values = self.store.column(name)
            vocabulary = self.model.vocabulary if self.model is not None else DEFAULT_VOCABULARY
            classes = {c for s in self.store.sources(name) if s in vocabulary for c in vocabulary[s].applies_to}
            if classes and values.dtype.kind == "f":
                values = np.where(self.frame["CLASS"].isin(classes).to_numpy(dtype=bool), values,
                                  np.nan).astype(values.dtype)
            self._cache[key] = values
        return self._cache[key]

    @property
    def redshift(self) -> np.ndarray:
        """Predicted z of each object: Z_QSO for QSOs, Z_GAL otherwise (NaN for stars)."""
        return self.store.shown_redshift

    def _filters(self) -> np.ndarray:
        frame = self.frame
        keep = np.array(frame["CLASS"].isin(list(self.classes)), dtype=bool)
        if self.min_probability > 0:
            p = np.zeros(len(frame), dtype=np.float32)
            for name in self.param.classes.objects:
                p = np.where((frame["CLASS"] == name).to_numpy(), frame[f"P_{name}"].to_numpy(), p)
            keep &= p >= self.min_probability
        mag = frame["MAG_i"].to_numpy()
        lo, hi = self.mag_range
        if (lo, hi) != self.param.mag_range.bounds:
            keep &= (mag >= lo) & (mag <= hi)
        zlo, zhi = self.z_range
        if (zlo, zhi) != self.param.z_range.bounds:
            z = self.redshift
            keep &= (z >= zlo) & (z <= zhi)
        if self.column:
            values = self.store.column(self.column)
            keep &= (values >= self.column_range[0]) & (values <= self.column_range[1])
        if self.expression.strip():
            try:             # a malformed expression filters nothing and says why under its box
                columns = self.store.columns_view()        # a column not in memory is read when named
                keep &= Expression(self.expression, columns.columns).mask(columns)
                self.expression_error = ""
            except ExpressionError as error:
                self.expression_error = str(error)
        else:
            self.expression_error = ""
        return keep

    def _refilter(self, *_):
        self._change_started = time.perf_counter()
        self.filter_mask = self._filters()
        self.filter_version += 1
        self._reselect()

    def _reselect(self, *_):
        mask = self.filter_mask.copy()
        if self.selection is not None:
            picked = np.zeros(len(mask), dtype=bool)
            picked[self.selection] = True
            mask &= picked
        self.mask = mask
        started = getattr(self, "_change_started", None) or time.perf_counter()
        self.version += 1                          # every view redraws here, in its watcher
        self._change_started = None
        self.update_ms = 1000 * (time.perf_counter() - started)

    def select(self, rows, label: str, region: dict | None = None, mode: str | None = None):
        """Make `rows` the selection (described by `label` in the header; `region` its definition),
        or combine them with the current one by `mode` (default `selection_mode`): OR, AND, AND NOT.
        A combination of regions keeps its definition as ``{"combine": [[mode, region], ...]}``."""
        self._change_started = self._change_started or time.perf_counter()
        mode = mode or self.selection_mode
        rows = _sorted_rows(rows, len(self.frame))
        if mode != "replace" and self.selection is not None:
            rows = _combine(self.selection, rows, mode, len(self.frame))
            label = f"({self.selection_label}) {SELECTION_MODES[mode]} ({label})"
            if region is not None and self.selection_region is not None:
                steps = self.selection_region.get("combine", [["replace", self.selection_region]])
                region = {"combine": [*steps, [mode, region]]}
            else:
                region = None            # ids in the combination: the definition is the id list
        self._push_history()
        self._set_selection(rows, label, region)

    def clear_selection(self, *_):
        if self.selection is not None:
            self._push_history()
        self._set_selection(None, "no selection", None)

    def undo(self, *_):
        """Go back to the selection before the last change (a drag, a recall, a load, a clear)."""
        if self._history:
            self._set_selection(*self._history.pop())
        self.can_undo = bool(self._history)

    def _push_history(self):
        self._history = [*self._history[-(UNDO_DEPTH - 1):], (self.selection, self.selection_label,
                                                              self.selection_region)]
        self.can_undo = True

    def _set_selection(self, rows, label, region):
        self.selection_label, self.selection_region = label, region
        self.selection = rows
        self._set_region_text(region)

    # -- kept subsets: named, coloured in every diagram, recalled into the selection -----------
    def keep_subset(self, name: str | None = None) -> str:
        """Keep the current selection as a named subset (drawn in its own colour); returns the name."""
        if self.selection is None:
            raise ValueError("nothing selected to keep")
        taken = set(self.subsets)
        name = (name or "").strip() or next(f"S{k}" for k in range(1, len(taken) + 2) if f"S{k}" not in taken)
        used = {v["colour"] for v in self.subsets.values()}
        colour = next((c for c in SUBSET_COLOURS if c not in used), SUBSET_COLOURS[len(self.subsets) % 8])
        self.subsets = {**self.subsets, name: {"label": self.selection_label, "region": self.selection_region,
                                               "rows": self.selection.copy(), "colour": colour}}
        return name

    def recall_subset(self, name: str, mode: str | None = None):
        """Select kept subset `name`, combined with the current selection by `mode`."""
        subset = self.subsets[name]
        self.select(subset["rows"], name, subset["region"], mode)

    def drop_subset(self, name: str):
        self.subsets = {k: v for k, v in self.subsets.items() if k != name}

    def subset_labels(self) -> np.ndarray:
        """Per VAC row, the name of the last kept subset holding it ('' for none)."""
        out = np.full(len(self.frame), "", dtype=object)
        for name, subset in self.subsets.items():
            out[subset["rows"]] = name
        return out

    # -- regions: a selection's definition, re-applicable to any VAC with those columns ---------
    def region_rows(self, region: dict) -> np.ndarray:
        """VAC rows inside `region`: a box ``{diagram, x, y, x_range, y_range}`` or a lasso
        ``{diagram, x, y, polygon: [[x, y], ...]}`` in diagram coordinates, or a combination
        ``{combine: [[mode, region], ...]}`` of them (modes of `SELECTION_MODES`, applied in order)."""
        if "combine" in region:
            steps = region["combine"]
            if not steps:
                raise ValueError("a combined region needs at least one step")
            rows = np.zeros(0, dtype=np.int64)
            for mode, part in steps:
                if mode not in SELECTION_MODES:
                    raise ValueError(f"unknown combination {mode!r} (one of {', '.join(SELECTION_MODES)})")
                rows = _combine(rows, self.region_rows(part), mode, len(self.frame))
            return rows
        available = self.store.available
        for key in ("x", "y"):
            if region.get(key) not in available:
                raise ValueError(f"the region's {key} column {region.get(key)!r} is not in this VAC")
        x, y = (self.plot_column(region[key]).astype(float) for key in ("x", "y"))
        finite = np.isfinite(x) & np.isfinite(y)
        if "polygon" in region:
            polygon = np.asarray(region["polygon"], dtype=float)
            if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
                raise ValueError("a lasso region needs a polygon of at least 3 [x, y] vertices")
            rows = np.flatnonzero(finite)
            return rows[PolygonPath(polygon).contains_points(np.column_stack([x[rows], y[rows]]))]
        (x0, x1), (y0, y1) = (sorted(float(v) for v in region[k]) for k in ("x_range", "y_range"))
        return np.flatnonzero(finite & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))

    def drag_mode(self) -> str | None:
        """How a drag in a diagram meets the selection: OR while Shift is held (TOPCAT/glue's shift-drag),
        else the chosen selection mode."""
        return "add" if self.shift_held else None

    def select_region(self, region: dict, mode: str | None = None):
        """Select the objects inside `region` (see `region_rows`), combined by `mode`."""
        self._change_started = time.perf_counter()
        self.select(self.region_rows(region), region_label(region), region, mode)

    def select_ids(self, ids, label: str) -> int:
        """Select the objects whose JPAS_ID is in `ids`; returns how many of the ids were found."""
        wanted = {str(i).strip() for i in ids if str(i).strip()}
        rows = np.flatnonzero(self.frame["JPAS_ID"].isin(wanted).to_numpy(dtype=bool, na_value=False))
        self.select(rows, label)
        return len(rows)

    def subset_document(self) -> dict:
        """The selection as a file: its definition (the region, when it has one), its label and
        the JPAS_IDs of the shown objects."""
        return {"kind": SUBSET_KIND, "label": self.selection_label, "region": self.selection_region,
                "vac": str(self.store.path), "jpas_ids": self.frame["JPAS_ID"][self.mask].astype(str).tolist()}

    def load_subset(self, text: str, name: str = "subset") -> str:
        """Select from a saved subset (`subset_document` JSON: its region when it has one, else its
        ids) or from a plain list of JPAS_IDs (one per line, or a CSV with a JPAS_ID column);
        returns what was done, for people. Raises ValueError naming the problem."""
        stripped = text.lstrip()
        if stripped.startswith("{"):
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"{name}: not valid JSON ({error.msg} at line {error.lineno})") from None
            if document.get("kind") != SUBSET_KIND:
                raise ValueError(f"{name}: not a saved OJALA selection (no \"kind\": \"{SUBSET_KIND}\")")
            if document.get("region"):
                self.select_region(document["region"])
                return f"{name}: region re-applied, {len(self.selection):,} objects selected"
            found = self.select_ids(document.get("jpas_ids", []), f"{name} ({len(document.get('jpas_ids', []))} ids)")
            return f"{name}: {found:,} of {len(document.get('jpas_ids', []))} ids found"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and "JPAS_ID" in [c.strip() for c in lines[0].split(",")]:
            at = [c.strip() for c in lines[0].split(",")].index("JPAS_ID")
            lines = [line.split(",")[at] for line in lines[1:]]
        if not lines:
            raise ValueError(f"{name}: no JPAS_ID in the file")
        found = self.select_ids(lines, f"{name} ({len(lines)} ids)")
        return f"{name}: {found:,} of {len(lines)} ids found"

    # -- the page URL: open object and region as text parameters ---------------------------------
    def _set_region_text(self, region):
        text = json.dumps(region, separators=(",", ":")) if region else ""
        if text != self.region:
            self._region_echo = text
            self.region = text

    def _on_region(self, event):
        if event.new == getattr(self, "_region_echo", None):
            return                             # set by a selection here, not by the URL
        if not event.new:
            self.clear_selection()
            return
        try:
            self.select_region(json.loads(event.new), mode="replace")
        except (ValueError, KeyError, TypeError) as error:
            self.selection_label = f"region in the link not applied: {error}"

    def _on_subsets(self, event):
        """Kept subsets as text: [name, label, region] each, or [name, label, null, ids] for an id set
        (up to `URL_MAX_IDS`; a larger one without a definition stays out of the URL)."""
        items = []
        for name, subset in event.new.items():
            if subset["region"] is not None:
                items.append([name, subset["label"], subset["region"]])
            elif len(subset["rows"]) <= URL_MAX_IDS:
                ids = self.frame["JPAS_ID"].iloc[subset["rows"]].astype(str).tolist()
                items.append([name, subset["label"], None, ids])
        text = json.dumps(items, separators=(",", ":")) if items else ""
        if text != self.subsets_text:
            self._subsets_echo = text
            self.subsets_text = text

    def _on_subsets_text(self, event):
        if event.new == getattr(self, "_subsets_echo", None):
            return                             # written here, not by the URL
        kept = {}
        for item in json.loads(event.new) if event.new else []:
            name, label, region = item[0], item[1], item[2]
            if region is not None:
                rows = self.region_rows(region)
            else:
                rows = np.flatnonzero(self.frame["JPAS_ID"].isin({str(i) for i in item[3]})
                                      .to_numpy(dtype=bool, na_value=False))
            colour = SUBSET_COLOURS[len(kept) % len(SUBSET_COLOURS)]
            kept[str(name)] = {"label": str(label), "region": region, "rows": rows, "colour": colour}
        self.subsets = kept

    def _on_current_row(self, event):
        jpas_id = "" if event.new is None else str(self.frame["JPAS_ID"].iat[event.new])
        if jpas_id != self.open_id:
            self.open_id = jpas_id

    def _on_open_id(self, event):
        row = self.find(event.new) if event.new else None
        if row != self.current_row and row is not None:
            self.current_row = row

    def find(self, jpas_id: str) -> int | None:
        """The VAC row of catalogue id `jpas_id` (surrounding blanks ignored), or None."""
        equal = self.frame["JPAS_ID"] == str(jpas_id).strip()
        rows = np.flatnonzero(equal.to_numpy(dtype=bool, na_value=False))
        return int(rows[0]) if len(rows) else None

    def cached(self, kind: str, row: int, compute):
        """`compute()` for (kind, row), remembered: clicks come back to the same objects."""
        key = (kind, row)
        if key not in self._cache:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = compute()
        return self._cache[key]

    def vac_row(self, row: int) -> pd.Series:
        """Every column of VAC row `row`: read from its partition (errors and derived values included),
        with the in-memory ones (DESI values when joined)."""
        def read():
            full = self._full_row(row).iloc[0]
            here = self.frame.iloc[row]
            return pd.concat([full, here[[c for c in here.index if c not in full.index]]])
        return self.cached("vac_row", row, read)

    def _full_row(self, row: int) -> pd.DataFrame:
        """VAC row `row` as stored (one read, shared by `vac_row` and `tokens_of`)."""
        return self.cached("full_row", row, lambda: self.store.full_rows([row]))

    def tokens_of(self, row: int):
        """The one-row token table of VAC row `row`."""
        return self.cached("tokens", row, lambda: self.store.tokens([row], raw=self._full_row(row)))

    @property
    def shown_rows(self) -> np.ndarray:
        return np.flatnonzero(self.mask)
