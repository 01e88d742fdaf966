"""The explorer measured in the real browser (Debian Chromium + Playwright) on VACs of 10⁶–10⁷ objects.

The large VAC is either an existing one (``--large``, e.g. the VAC that bench/bench_vac.py keeps
with ``--keep``: a real ``ojala vac`` run on a repeated catalogue) or made here by copying a small
VAC partition by partition (``--rows``: new ids, jittered map, embeddings + small noise, an IVF
index built partition by partition; memory holds one copy at a time). Each VAC is served with
``ojala serve`` and timed: server start, first full render, BPT box-select → table updated (and
the server's own time for every view, ``data-ms`` of the selection line), table click → J-spectrum
drawn, a second click, what-if for one object, what-if for the selection, the similarity query
(server side) and gallery; the server's peak RSS at the end. The small VAC is the baseline of the
same run (ratios large/small are printed). Targets (issue 12): select ≤ 300 ms server / ≤ 0.6 s to
the screen and click ≤ 0.5 s at 1 M; interactions ≤ 1 s and peak RSS ≤ 8 GB at 10 M:
    python bench/bench_explorer.py --vac data/vac-default --large /work/bench-data/vac-1m
    python bench/bench_explorer.py --vac data/vac-default --rows 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_scaled_vac(source, rows, out) -> Path:
    """A VAC of `rows` objects made of copies of `source` (a finished VAC folder), one partition at a time."""
    import pyarrow as pa

    from ojala_core.vac.similarity import EmbeddingIndex, make_index, training_rows

    source, out = Path(source), Path(out)
    manifest = json.loads((source / "manifest.json").read_text())
    (out / "catalogue").mkdir(parents=True)
    (out / "embeddings").mkdir()
    base = pa.concat_tables([pq.read_table(source / p["path"]) for p in manifest["partitions"]])
    emb = np.concatenate([np.load(source / "embeddings" / (Path(p["path"]).stem + ".npy"))
                          for p in manifest["partitions"]])
    finite = np.isfinite(emb).all(axis=1)
    rng = np.random.default_rng(0)
    index = make_index(emb.shape[1], int(finite.sum() * np.ceil(rows / len(emb))))
    if not index.is_trained:
        pick = rng.choice(np.flatnonzero(finite), min(int(finite.sum()), training_rows(index)), replace=True)
        index.train(emb[pick] + rng.normal(0, 1e-3, (len(pick), emb.shape[1])).astype(np.float32))
    parts, first, k = [], 0, 0

    def copies():
        nonlocal first, k
        while first < rows:
            n = min(base.num_rows, rows - first)
            table = base.slice(0, n)
            ids = pa.array([f"{i}-c{k}" for i in table.column("JPAS_ID").to_pylist()])
            table = table.set_column(table.schema.get_field_index("JPAS_ID"), "JPAS_ID", ids)
            table = table.set_column(table.schema.get_field_index("EMBEDDING_ROW"), "EMBEDDING_ROW",
                                     pa.array(first + np.arange(n, dtype=np.int64)))
            for col in ("UMAP_X", "UMAP_Y"):
                values = table.column(col).to_numpy(zero_copy_only=False)
                table = table.set_column(table.schema.get_field_index(col), col,
                                         pa.array(values + rng.normal(0, 0.05, n).astype(values.dtype)))
            path = out / "catalogue" / f"part-{k:05d}.parquet"
            pq.write_table(table, path, row_group_size=4096)
            e = emb[:n] + rng.normal(0, 1e-3, (n, emb.shape[1])).astype(np.float32)
            np.save(out / "embeddings" / f"part-{k:05d}.npy", e)
            parts.append({"path": str(path.relative_to(out)), "rows": n, "first_row": first, "source": "bench copy",
                          "band_units": manifest["partitions"][0]["band_units"]})
            keep = np.flatnonzero(np.isfinite(e).all(axis=1))
            yield first + keep, e[keep]
            first += n
            k += 1

    EmbeddingIndex.from_parts(index, copies()).save(out)
    manifest.update(partitions=parts, catalogue=f"{rows} rows repeated from {source}")
    manifest["summary"]["rows"] = rows
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _poll(page, selector, attribute, accept, timeout=120.0):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        loc = page.locator(selector)
        if loc.count():
            value = loc.first.get_attribute(attribute)
            if value is not None and accept(value):
                return value
        page.wait_for_timeout(20)
    raise TimeoutError(f"{selector}[{attribute}] not ready after {timeout} s")


def _peak_rss_gb(pid) -> float:
    """Peak resident memory of process `pid` [GB] (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def start_server(vac, mocks, model, port, env=None) -> subprocess.Popen:
    """`ojala serve` of `vac` on `port` in a child process (output discarded)."""
    cmd = [sys.executable, "-m", "ojala_core.cli", "serve", "--vac", os.path.abspath(vac), "--port", str(port),
           "--model", os.path.abspath(model)]
    cmd += ["--mocks", os.path.abspath(mocks)] if mocks else []
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_server(proc, port):
    """Return once `port` accepts connections; raise if the server process exits first."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("ojala serve exited")
            time.sleep(0.2)


def measure(vac, mocks, model) -> dict:
    """Serve `vac`, drive the page, return the timings [s] (server-side times in ms) and peak RSS [GB]."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    t0 = time.perf_counter()
    proc = start_server(vac, mocks, model, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(proc, port)
        out = {"server_start": time.perf_counter() - t0}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            t = time.perf_counter()
            page.goto(url, timeout=300_000)
            page.locator("#table-count").first.wait_for(timeout=300_000)
            for name in ("BPT", "WHAN", "SFMS", "CMD"):
                page.locator(f".diagram-{name} canvas").first.wait_for(timeout=300_000)
            page.wait_for_load_state("networkidle")
            out["first_render"] = time.perf_counter() - t
            page.wait_for_timeout(2000)
            shown = _poll(page, "#table-count", "data-rows", lambda v: True)
            box = page.locator(".diagram-BPT canvas").first.bounding_box()
            x0, y0 = box["x"] + 0.30 * box["width"], box["y"] + 0.25 * box["height"]
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x0 + 0.25 * box["width"], y0 + 0.45 * box["height"], steps=8)
            page.wait_for_timeout(500)               # the pointer's hover lookups are done before the release
            t = time.perf_counter()
            page.mouse.up()
            out["selected"] = int(_poll(page, "#table-count", "data-rows", lambda v: v != shown))
            out["box_select_to_table"] = time.perf_counter() - t
            out["box_select_server_ms"] = float(_poll(page, "#selection", "data-ms", lambda v: float(v) > 0))
            page.wait_for_timeout(1000)
            t = time.perf_counter()
            page.locator(".tabulator-row").first.click()
            _poll(page, "#object-title", "data-bands", lambda v: int(v) > 0, timeout=60)
            out["click_to_jspectrum"] = time.perf_counter() - t
            page.wait_for_timeout(1000)
            second = page.locator(".tabulator-row").nth(3)
            wanted = second.locator("[tabulator-field='JPAS_ID']").inner_text().strip()
            t = time.perf_counter()
            second.click()
            page.locator(f"#object-title[data-jpas-id='{wanted}'][data-bands]").first.wait_for(timeout=60_000)
            out["second_click"] = time.perf_counter() - t
            page.locator(".bk-tab", has_text="What-if").click()
            page.locator("#whatif-table").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            t = time.perf_counter()
            page.get_by_text("J0500", exact=True).click()
            _poll(page, "#whatif-hidden", "data-n", lambda v: v == "1")
            out["whatif_update"] = time.perf_counter() - t
            t = time.perf_counter()
            page.get_by_role("button", name="Apply mask to the selection").click()
            page.wait_for_function("() => [...Bokeh.index.query(v => v.model.type === 'Figure')]"
                                   ".some(v => String(v.model.title?.text).startsWith('BPT of'))", timeout=120_000)
            out["whatif_selection"] = time.perf_counter() - t
            t = time.perf_counter()
            page.locator(".bk-tab", has_text="Similar").click()
            out["similarity_ms"] = float(_poll(page, "#similarity-info", "data-ms", lambda v: True))
            out["similar_tab_gallery"] = time.perf_counter() - t
            browser.close()
        out["peak_rss_gb"] = _peak_rss_gb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vac", default="data/vac-default", help="a finished VAC (the baseline)")
    parser.add_argument("--mocks", default=None, help="mocks folder (joins DESI values, as in the demo)")
    parser.add_argument("--large", default=None, help="an existing large VAC (else one of --rows is made)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    try:
        big = args.large
        if big is None:
            t = time.perf_counter()
            big = make_scaled_vac(args.vac, args.rows, tmp / "vac")
            print(f"made a {args.rows:,}-object VAC in {time.perf_counter() - t:.0f} s", flush=True)
        sizes = [json.loads((Path(v) / "manifest.json").read_text())["summary"]["rows"] for v in (args.vac, big)]
        results = {"source": measure(args.vac, args.mocks, args.model), "large": measure(big, args.mocks, args.model)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets = {"first_render": 10.0, "box_select_to_table": 0.6, "box_select_server_ms": 300.0,
               "click_to_jspectrum": 0.5, "second_click": 0.5, "whatif_update": 1.0, "whatif_selection": 1.0,
               "similarity_ms": 100.0, "peak_rss_gb": 8.0}
    print(f"{'measure':24s} {sizes[0]:>12,} {sizes[1]:>12,}   ratio   target")
    for key in ("server_start", "first_render", "box_select_to_table", "box_select_server_ms", "click_to_jspectrum",
                "second_click", "whatif_update", "whatif_selection", "similar_tab_gallery", "similarity_ms",
                "peak_rss_gb"):
        a, b = results["source"][key], results["large"][key]
        unit = "ms" if key.endswith("_ms") else "GB" if key.endswith("_gb") else "s"
        target = f"≤ {targets[key]:g} {unit}" if key in targets else ""
        ok = "" if key not in targets else ("  ok" if b <= targets[key] else "  MISSED")
        print(f"{key:24s} {a:11.2f}{unit[0]} {b:11.2f}{unit[0]}   {b / a:5.2f}   {target}{ok}")
    print(f"objects in the BPT box: {results['source']['selected']:,} / {results['large']['selected']:,}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
