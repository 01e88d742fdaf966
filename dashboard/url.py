"""The explorer's page state in its URL: filters, selection region, kept subsets, open object and tab, so that a
reload or a shared link restores the page.

Our own plain-text codec (not `Location.sync`: Panel decodes any JSON-looking query value and
re-encodes it as a Python repr when another parameter changes, which breaks lists and regions).
Not for the state itself (see `dashboard.state`).
"""
from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["restore", "keep", "CODECS"]


def _pair(text: str) -> tuple[float, float]:
    low, high = (float(v) for v in text.split(","))
    return low, high


def _range_text(pair) -> str:
    return f"{pair[0]:g},{pair[1]:g}"


# name in the URL: (ExplorerState parameter, value -> text, text -> value). Filters come first:
# the region and the open object are applied after them.
CODECS = {
    "classes": ("classes", ",".join, lambda text: [c for c in text.split(",") if c]),
    "pmin": ("min_probability", "{:g}".format, float),
    "mag": ("mag_range", _range_text, _pair),
    "z": ("z_range", _range_text, _pair),
    "where": ("expression", str, str),
    "region": ("region", str, str),
    "subsets": ("subsets_text", str, str),
    "object": ("open_id", str, str),
}


def restore(state, tabs, query: dict[str, str]) -> list[str]:
    """Apply the page state in `query` (URL name -> text) to `state` and `tabs`; returns what could
    not be applied, one line each for people (the rest is applied)."""
    problems = []
    for key, (name, _, parse) in CODECS.items():
        if key not in query:
            continue
        try:
            setattr(state, name, parse(query[key]))
        except (ValueError, TypeError, KeyError, IndexError) as error:   # e.g. a class this VAC lacks
            problems.append(f"{key}={query[key]!r} not applied: {error}")
    if "tab" in query:
        try:
            tab = int(query["tab"])
            if not 0 <= tab < len(tabs):
                raise ValueError(f"there are {len(tabs)} tabs")
            tabs.active = tab
        except ValueError as error:
            problems.append(f"tab={query['tab']!r} not applied: {error}")
    return problems


def keep(state, tabs, location):
    """From now on, write every change of the state or the tab into `location.search` (only the
    values that differ from those at this call, so a fresh page keeps a bare URL). Call it before
    `restore`, so that the restored values count as changes."""
    start = {key: to_text(getattr(state, name)) for key, (name, to_text, _) in CODECS.items()}

    def write(*_):
        query = {key: text for key, (name, to_text, _) in CODECS.items()
                 if (text := to_text(getattr(state, name))) != start[key]}
        if tabs.active:
            query["tab"] = str(tabs.active)
        search = f"?{urlencode(query)}" if query else ""
        if location.search != search:
            location.search = search
    state.param.watch(write, [name for name, _, _ in CODECS.values()])
    tabs.param.watch(write, "active")
