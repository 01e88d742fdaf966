"""The selection tools of the sidebar: how a drag meets the current selection (new / OR / AND /
AND NOT), undo, and named subsets kept in their own colours and recalled into the selection.
Not for drawing the subsets (the diagrams do) nor for saving them to files (the catalogue does).
"""
from __future__ import annotations

from html import escape

import panel as pn

from ..state import SELECTION_MODES

__all__ = ["SubsetsView"]


class SubsetsView(pn.viewable.Viewer):
    """Selection mode, undo, keep / recall / drop of named subsets, over one `ExplorerState`."""

    def __init__(self, state, width=230, **params):
        super().__init__(**params)
        self.state, self._width = state, width
        labels = {word: mode for mode, word in SELECTION_MODES.items()}
        self.mode = pn.widgets.RadioButtonGroup(options=labels, value=state.selection_mode, width=width,
                                                name="selection mode", css_classes=["selection-mode"])
        self.mode.param.watch(lambda e: setattr(state, "selection_mode", e.new), "value")
        state.param.watch(lambda e: setattr(self.mode, "value", e.new), "selection_mode")
        self.undo = pn.widgets.Button(name="Undo selection", width=width // 2 - 5, disabled=not state.can_undo)
        self.undo.on_click(state.undo)
        state.param.watch(lambda e: setattr(self.undo, "disabled", not e.new), "can_undo")
        self.subset_name = pn.widgets.TextInput(placeholder="name (S1, S2… if empty)", width=width)
        self.keep = pn.widgets.Button(name="Keep as subset", width=width // 2 - 5)
        self.keep.on_click(self._on_keep)
        self.choice = pn.widgets.Select(options=list(state.subsets), width=width, name="kept subsets")
        self.recall = pn.widgets.Button(name="Select it", width=width // 2 - 5)
        self.recall.on_click(lambda *_: self.choice.value and state.recall_subset(self.choice.value))
        self.drop = pn.widgets.Button(name="Drop it", width=width // 2 - 5)
        self.drop.on_click(lambda *_: self.choice.value and state.drop_subset(self.choice.value))
        self.legend = pn.pane.HTML(self._legend(), width=width)
        self.message = pn.pane.HTML("", width=width)
        state.param.watch(self._on_subsets, "subsets")

    def _on_keep(self, *_):
        try:
            name = self.state.keep_subset(self.subset_name.value)
        except ValueError as error:
            self.message.object = f"<div id='keep-message' style='color:#b00;font-size:12px'>{escape(str(error))}</div>"
            return
        self.message.object = ""
        self.subset_name.value = ""
        self.choice.value = name

    def _on_subsets(self, event):
        self.choice.options = list(event.new)
        self.legend.object = self._legend()

    def _legend(self) -> str:
        items = "".join(
            f"<li data-subset='{escape(name)}' data-n='{len(s['rows'])}' data-colour='{s['colour']}'>"
            f"<span style='display:inline-block;width:10px;height:10px;background:{s['colour']}'></span> "
            f"<b>{escape(name)}</b> ({len(s['rows']):,}): <small>{escape(s['label'])}</small></li>"
            for name, s in self.state.subsets.items())
        return (f"<ul id='subset-legend' style='padding-left:14px;margin:2px 0;font-size:12px'>{items}</ul>"
                if items else "<div id='subset-legend' style='font-size:12px'><i>no kept subset</i></div>")

    def __panel__(self):
        return pn.Column(
            "### Selections",
            pn.pane.HTML("<small>A new drag, recall or load is combined with the current selection:</small>",
                         width=self._width),
            self.mode, pn.Row(self.undo, self.keep), self.subset_name, self.message,
            self.legend, self.choice, pn.Row(self.recall, self.drop), width=self._width)
