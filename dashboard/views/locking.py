"""Edits of Bokeh models where Bokeh allows them: inside the document lock.

Panel takes the lock for panes and parameters; a HoloViews stream callback (a click, a
pointer move) runs outside it, so views that change their own Bokeh data sources go through
`edit_in_document_lock`. Not for anything else.
"""
from __future__ import annotations

__all__ = ["edit_in_document_lock"]


def edit_in_document_lock(model, edit):
    """Run `edit` (which changes `model` or its neighbours) at once when `model` is in no served document,
    else as a next-tick callback, which Bokeh runs holding the document lock."""
    doc = model.document
    if doc is None or doc.session_context is None:
        edit()
    else:
        doc.add_next_tick_callback(edit)
