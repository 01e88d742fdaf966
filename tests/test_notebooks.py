"""Every notebook in notebooks/ runs top to bottom on the tiny sky, and is stored without outputs."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "ojala-test-venv"
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def venv_kernel(tmp_path_factory):
    """A Jupyter kernelspec running this interpreter (the venv's), found through JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "OJALA test kernel", "language": "python"}))
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tiny_sky, tiny_mocks, venv_kernel, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(venv_kernel))
    monkeypatch.setenv("OJALA_SKY", str(tiny_sky))
    monkeypatch.setenv("OJALA_MOCKS", str(tiny_mocks[0]))
    monkeypatch.setenv("OJALA_WORK", str(tmp_path))
    monkeypatch.setenv("OJALA_MODEL", str(NOTEBOOK_DIR.parent / "models" / "ojala-small"))
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S,
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    print(f"{path.name}: {time.time() - t0:.1f} s")
