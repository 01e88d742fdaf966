"""The generated documentation pages (docs/cli.md, docs/vocabulary.md) match the code."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["cli.md", "vocabulary.md"])
def test_generated_page_matches_the_code(page):
    expected = _generator().PAGES[page]()
    assert (DOCS / page).read_text() == expected, f"docs/{page} is stale: run python docs/generate.py"


def test_cli_page_lists_every_subcommand():
    from ojala_core.cli import build_parser

    text = (DOCS / "cli.md").read_text()
    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert all(f"## ojala {name}\n" in text for name in commands)


def test_vocabulary_page_has_one_row_per_token():
    from ojala_core.vocabulary import DEFAULT_VOCABULARY

    text = (DOCS / "vocabulary.md").read_text()
    assert all(f"| `{name}` |" in text for name in DEFAULT_VOCABULARY.names)
