"""The catalogue table: the shown objects (filters ∧ selection), sorted and paged on the server
(only the page on screen is built, so it costs the same at 10⁴ and 10⁷ objects), with the sidebar
filters and the export of the selection. Not for plots.
"""
from __future__ import annotations

import json
import tempfile
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param

from ojala_core.vac.columns import vac_units
from ojala_core.vac.export import EXPORT_FORMATS
from ojala_core.vac.store import LABEL_PREFIX

__all__ = ["CatalogueView", "table_columns", "column_precision"]

_HIDDEN = ("EMBEDDING_ROW",)               # bookkeeping columns never offered in the chooser


def table_columns(vocabulary, classes) -> list[str]:
    """Table columns: identity and class, i magnitude, every regression target of the model
    (redshifts with their error), the diagnostic classes, the outlier score and quality flag."""
    targets = []
    for name in vocabulary.targets_for():
        targets += [name, f"{name}_ERR"] if vocabulary[name].is_redshift else [name]
    return ["JPAS_ID", "CLASS", *[f"P_{c}" for c in classes], "MAG_i", *targets,
            "BPT_Ke01", "WHAN_CLASS", "OUTLIER_SCORE", "QUALITY_FLAG"]


def column_precision(name: str, unit: str | None) -> int | None:
    """Decimals shown for column `name` (None: not a number, shown as is)."""
    if name.startswith(("P_", "DESI_P_")) or name in ("OUTLIER_SCORE",):
        return 3
    if name.endswith(("Z_GAL", "Z_QSO", "Z_GAL_ERR", "Z_QSO_ERR")):
        return 4
    if unit in ("mag",) or (unit or "").startswith("dex") or name.startswith(("LOG", "MAG")):
        return 2
    if unit == "K":
        return 0
    if unit == "Angstrom":
        return 1
    return 3


def _header(name, units):
    return f"{name} [{units[name]}]" if name in units else name


class CatalogueView(pn.viewable.Viewer):
    """Filters (sidebar), the table of shown objects (one page at a time) and the export of that set."""

    export_format = param.Selector(default="csv", objects=list(EXPORT_FORMATS))
    page = param.Integer(1, bounds=(1, None), doc="page of the table on screen (1 = first)")
    sort_by = param.Selector(default="", objects=[""], doc="column the shown objects are ordered by ('' = VAC order)")
    descending = param.Boolean(False, doc="largest first")

    def __init__(self, state, page_size=15, **params):
        super().__init__(**params)
        self.state = state
        self.page_size = page_size
        store = state.store
        desi = [c for c in (LABEL_PREFIX + "TARGETID", LABEL_PREFIX + "Z_GAL") if c in state.frame]
        self.columns = [c for c in table_columns(state.model.vocabulary, state.param.classes.objects)
                        if c in store.available] + desi
        self.units = vac_units(store.available)
        self.param.sort_by.objects = ["", *[c for c in store.numeric_columns() if c not in _HIDDEN]]
        self._order_cache = (None, None)
        self.table = pn.widgets.Tabulator(self._value(), pagination=None, sortable=False, disabled=True,
                                          show_index=False, sizing_mode="stretch_width", height=470,
                                          selectable=False, name="catalogue", configuration={"renderVertical": "basic"},
                                          **self._look(self.columns))
        self.table.on_click(self._on_click)
        self.chooser = pn.widgets.MultiChoice(name="Columns", value=list(self.columns), sizing_mode="stretch_width",
                                              options=[c for c in store.available if c not in _HIDDEN])
        self.chooser.param.watch(self._on_columns, "value")
        self.search = pn.widgets.TextInput(name="Find JPAS_ID", placeholder="catalogue id, then Enter", width=220)
        self.search.param.watch(self._on_search, "enter_pressed")
        self.search_message = pn.pane.HTML("", name="search-message")
        self.count = pn.pane.HTML(self._count_html(), name="table-count")
        self.pager = pn.pane.HTML(self._pager_html(), name="table-page")
        self.download = pn.widgets.FileDownload(callback=self._export, filename="ojala-selection.csv",
                                                label="Export shown rows", button_type="primary", width=220)
        self._export_dir = None
        self.param.watch(self._on_format, "export_format")
        self.param.watch(self._refresh, ["page"])
        self.param.watch(self._first_page, ["sort_by", "descending"])
        state.param.watch(self._first_page, "version")

    # -- the page on screen ------------------------------------------------------------------------
    def _order(self) -> np.ndarray:
        """The shown rows in table order (sorted by `sort_by`, NaN last), kept until they or the order change."""
        key = (self.state.version, self.sort_by, self.descending)
        if self._order_cache[0] != key:
            rows = self.state.shown_rows
            if self.sort_by:
                values = self.state.store.column(self.sort_by)[rows].astype(float)
                values = -values if self.descending else values
                rows = rows[np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")]
            self._order_cache = (key, rows)
        return self._order_cache[1]

    @property
    def n_pages(self) -> int:
        return max(1, -(-int(self.state.mask.sum()) // self.page_size))

    def _value(self):
        start = (self.page - 1) * self.page_size
        rows = self._order()[start:start + self.page_size]
        store = self.state.store
        return pd.DataFrame({c: store.values(c, rows) for c in self.columns}, index=rows)

    def _look(self, columns) -> dict:
        """Tabulator titles (name [unit]) and number formatters (fixed decimals, no thousands mark)."""
        store = self.state.store
        formatters = {}
        for name in columns:
            if store.is_float(name):
                decimals = column_precision(name, self.units.get(name))
                formatters[name] = {"type": "money", "precision": decimals, "symbol": "", "thousand": False}
        return {"titles": {c: _header(c, self.units) for c in columns}, "formatters": formatters}

    def _on_columns(self, event):
        chosen = [c for c in event.new if c in self.state.store.available] or ["JPAS_ID"]
        if "JPAS_ID" not in chosen:
            chosen = ["JPAS_ID", *chosen]         # the id stays: a row must say which object it is
        self.columns = chosen
        look = self._look(chosen)
        self.table.param.update(value=self._value(), titles=look["titles"], formatters=look["formatters"])

    def _pager_html(self):
        return (f'<span id="table-page" data-page="{self.page}" data-pages="{self.n_pages}">page <b>{self.page:,}'
                f'</b> of {self.n_pages:,}</span>')

    def _turn(self, step):
        self.page = int(np.clip(self.page + step, 1, self.n_pages))

    def paging(self):
        """Previous / next page, the page number, and the order of the rows."""
        previous = pn.widgets.Button(name="◀", width=40, css_classes=["table-previous"])
        previous.on_click(lambda *_: self._turn(-1))
        following = pn.widgets.Button(name="▶", width=40, css_classes=["table-next"])
        following.on_click(lambda *_: self._turn(+1))
        sort = pn.widgets.Select.from_param(self.param.sort_by, name="", width=180, css_classes=["table-sort"])
        desc = pn.widgets.Checkbox.from_param(self.param.descending, name="largest first", width=110,
                                              css_classes=["table-desc"])
        return pn.Row(previous, self.pager, following, pn.pane.HTML("<small>sort by</small>"), sort, desc)

    def _on_search(self, *_):
        text = self.search.value_input if self.search.value_input is not None else self.search.value
        row = self.state.find(text) if text and text.strip() else None
        if row is None:
            self.search_message.object = (f"<span id='search-message' style='color:#b00'>no object with JPAS_ID "
                                          f"{escape(text.strip())!r}</span>" if text and text.strip() else "")
            return
        self.search_message.object = ""
        self.state.current_row = row

    def _count_html(self):
        n = int(self.state.mask.sum())
        return (f'<span id="table-count" data-rows="{n}"><b>{n:,}</b> objects shown of {len(self.state.frame):,}'
                f'</span>')

    def _first_page(self, *_):
        """Another shown set or order starts at page 1."""
        if self.page != 1:
            self.page = 1                          # refreshes through the page watcher
        else:
            self._refresh()

    def _refresh(self, *_):
        self.table.value = self._value()
        self.count.object = self._count_html()
        self.pager.object = self._pager_html()

    def _on_click(self, event):
        rows = self.table.value.index
        if event.row is not None and 0 <= event.row < len(rows):
            self.state.current_row = int(rows[event.row])

    def _on_format(self, *_):
        self.download.filename = f"ojala-selection{EXPORT_FORMATS[self.export_format]}"

    def _export(self):
        path = self._session_dir() / self.download.filename
        self.state.store.export(self.state.shown_rows, path, self.export_format)
        return str(path)

    def _session_dir(self) -> Path:
        if self._export_dir is None:          # one folder per session, removed with the process
            self._export_dir = tempfile.TemporaryDirectory(prefix="ojala-export-")
        return Path(self._export_dir.name)

    def _save_subset(self):
        path = self._session_dir() / "ojala-selection.json"
        path.write_text(json.dumps(self.state.subset_document(), indent=1))
        return str(path)

    def _on_load(self, *_):
        upload = self._load
        if upload.value is None:
            return
        name = upload.filename or "file"
        try:
            text = upload.value.decode("utf-8")
            done, colour = self.state.load_subset(text, name), "#060"
        except (UnicodeDecodeError, ValueError) as error:
            done, colour = str(error), "#b00"
        self.subset_message.object = (f"<div id='subset-message' style='color:{colour};font-size:12px'>"
                                      f"{escape(done)}</div>")

    def subset_tools(self, width):
        """Save the selection (its region and its ids, one JSON file) and load one back, or a list of ids."""
        save = pn.widgets.FileDownload(callback=self._save_subset, filename="ojala-selection.json",
                                       label="Save selection (JSON)", width=width)
        self._load = pn.widgets.FileInput(accept=".json,.txt,.csv", width=width, name="load selection",
                                          css_classes=["subset-load"])
        self._load.param.watch(self._on_load, "value")
        self.subset_message = pn.pane.HTML("", width=width)
        return pn.Column("### Selection", save, pn.pane.HTML("<small>Load a saved selection (re-applies its "
                                                            "region) or a list of JPAS_IDs:</small>", width=width),
                         self._load, self.subset_message, width=width)

    def filters(self, width=300):
        """The sidebar (`width` px): class, probability, magnitude, redshift and any-column filters."""
        s = self.state
        inner = width - 20                   # every widget inside the sidebar, none under the diagrams
        column_range = pn.widgets.EditableRangeSlider.from_param(s.param.column_range, name="column range",
                                                                 visible=False, width=inner)

        def _on_column(event):
            column_range.visible = bool(event.new)
            if event.new:
                values = s.store.column(event.new)
                lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
                column_range.start, column_range.end = lo, hi
                s.column_range = (lo, hi)
        s.param.watch(_on_column, "column")
        return pn.Column(
            "### Filters",
            pn.widgets.CheckButtonGroup.from_param(s.param.classes, name="class"),
            pn.widgets.FloatSlider.from_param(s.param.min_probability, name="min P(class)", width=inner),
            pn.widgets.RangeSlider.from_param(s.param.mag_range, name="MAG_i", step=0.1, width=inner),
            pn.widgets.RangeSlider.from_param(s.param.z_range, name="predicted z", step=0.01, width=inner),
            pn.widgets.Select.from_param(s.param.column, name="any column", width=inner),
            column_range,
            self.expression_box(inner),
            "### Export",
            pn.widgets.RadioButtonGroup.from_param(self.param.export_format, name="format"),
            self.download,
            self.subset_tools(inner),
            width=width,
        )

    def expression_box(self, width):
        """A text box for a filter expression over any column, with its error message under it."""
        s = self.state
        box = pn.widgets.TextAreaInput(name="where", value=s.expression,
                                       placeholder="e.g. Z_GAL > 0.5 and P_QSO < 0.1", width=width, height=60,
                                       css_classes=["expression"])
        s.param.watch(lambda e: setattr(box, "value", e.new), "expression")     # e.g. from the page URL
        apply = pn.widgets.Button(name="Apply filter", width=110)
        apply.on_click(lambda *_: setattr(s, "expression", box.value_input if box.value_input is not None
                                          else box.value))
        message = pn.pane.HTML("", width=width)

        def _on_error(*_):
            message.object = (f"<div id='expression-error' style='color:#b00;font-size:12px'>"
                              f"{escape(s.expression_error)}</div>" if s.expression_error else "")
        s.param.watch(_on_error, ["expression_error", "version"])
        return pn.Column(box, apply, message, width=width)

    def __panel__(self):
        return pn.Column(pn.Row(self.count, self.search, self.search_message), self.paging(), self.table,
                         pn.Card(self.chooser, title="Columns", collapsed=True, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
