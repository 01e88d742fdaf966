"""The explorer measured in the real browser (Debian Chromium + Playwright) on a VAC of ≥ 1 M objects.

Makes a large VAC by repeating a real one (new ids, jittered UMAP, embeddings + small noise,
a FAISS index over all of them), serves each VAC with ``ojala serve`` and times, per VAC:
server start, first full render, BPT box-select → table updated, object click → J-spectrum
drawn, what-if update for one object, and the server-side similarity query. The source VAC is
the baseline of the same run (ratios large/source are printed). Targets: first render ≤ 10 s,
interactions ≤ 1 s, similarity ≤ 100 ms:
    python bench/bench_explorer.py --vac data/vac-default --mocks data/mocks-default [--rows 1000000]
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_scaled_vac(source, rows, out) -> Path:
    """A VAC of `rows` objects made of copies of `source` (a finished VAC folder)."""
    import faiss

    source, out = Path(source), Path(out)
    manifest = json.loads((source / "manifest.json").read_text())
    (out / "catalogue").mkdir(parents=True)
    (out / "embeddings").mkdir()
    base = pd.concat([pq.read_table(source / p["path"]).to_pandas() for p in manifest["partitions"]],
                     ignore_index=True)
    emb = np.concatenate([np.load(p) for p in sorted((source / "embeddings").glob("part-*.npy"))])
    rng = np.random.default_rng(0)
    parts, first, k, all_emb = [], 0, 0, []
    while first < rows:
        n = min(len(base), rows - first)
        frame = base.iloc[:n].copy()
        frame["JPAS_ID"] = frame["JPAS_ID"].astype(str) + f"-c{k}"
        frame["EMBEDDING_ROW"] = first + np.arange(n)
        for col in ("UMAP_X", "UMAP_Y"):
            frame[col] = frame[col] + rng.normal(0, 0.05, n).astype(np.float32)
        path = out / "catalogue" / f"part-{k:05d}.parquet"
        frame.to_parquet(path, index=False, row_group_size=4096)
        e = emb[:n] + rng.normal(0, 1e-3, (n, emb.shape[1])).astype(np.float32)
        np.save(out / "embeddings" / f"part-{k:05d}.npy", e)
        all_emb.append(e)
        parts.append({"path": str(path.relative_to(out)), "rows": n, "first_row": first, "source": "bench copy",
                      "band_units": manifest["partitions"][0]["band_units"]})
        first += n
        k += 1
    embeddings = np.concatenate(all_emb)
    keep = np.flatnonzero(np.isfinite(embeddings).all(1))
    index = faiss.IndexFlatL2(embeddings.shape[1])
    index.add(np.ascontiguousarray(embeddings[keep]))
    faiss.write_index(index, str(out / "similarity.faiss"))
    np.save(out / "similarity_rows.npy", keep)
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


def measure(vac, mocks, model) -> dict:
    """Serve `vac`, drive the page, return the timings [s] (similarity in ms, server side)."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "ojala_core.cli", "serve", "--vac", str(vac), "--port", str(port), "--model", model]
    if mocks:
        cmd += ["--mocks", str(mocks)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("ojala serve exited")
                time.sleep(0.2)
        out = {"server_start": time.perf_counter() - t0}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1900, "height": 1300})
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
            t = time.perf_counter()
            page.mouse.up()
            out["selected"] = int(_poll(page, "#table-count", "data-rows", lambda v: v != shown))
            out["box_select_to_table"] = time.perf_counter() - t
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
            page.locator(f"#object-title[data-jpas-id='{wanted}']").first.wait_for(timeout=60_000)
            out["second_click"] = time.perf_counter() - t
            page.locator(".bk-tab", has_text="What-if").click()
            page.locator("#whatif-table").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            t = time.perf_counter()
            page.get_by_text("J0500", exact=True).click()
            _poll(page, "#whatif-hidden", "data-n", lambda v: v == "1")
            out["whatif_update"] = time.perf_counter() - t
            t = time.perf_counter()
            page.locator(".bk-tab", has_text="Similar").click()
            out["similarity_ms"] = float(_poll(page, "#similarity-info", "data-ms", lambda v: True))
            out["similar_tab_gallery"] = time.perf_counter() - t
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vac", default="data/vac-default", help="a finished VAC (the baseline)")
    parser.add_argument("--mocks", default=None, help="mocks folder (joins DESI values, as in the demo)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    try:
        t = time.perf_counter()
        big = make_scaled_vac(args.vac, args.rows, tmp / "vac")
        print(f"made a {args.rows:,}-object VAC in {time.perf_counter() - t:.0f} s", flush=True)
        results = {"source": measure(args.vac, args.mocks, args.model), "large": measure(big, args.mocks, args.model)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_source = json.loads((Path(args.vac) / "manifest.json").read_text())["summary"]["rows"]
    targets = {"first_render": 10.0, "box_select_to_table": 1.0, "click_to_jspectrum": 1.0, "second_click": 1.0,
               "whatif_update": 1.0,
               "similarity_ms": 100.0}
    print(f"{'measure':24s} {n_source:>12,} {args.rows:>12,}   ratio   target")
    for key in ("server_start", "first_render", "box_select_to_table", "click_to_jspectrum", "second_click",
                "whatif_update",
                "similar_tab_gallery", "similarity_ms"):
        a, b = results["source"][key], results["large"][key]
        unit = "ms" if key.endswith("_ms") else "s"
        target = f"≤ {targets[key]:g} {unit}" if key in targets else ""
        ok = "" if key not in targets else ("  ok" if b <= targets[key] else "  MISSED")
        print(f"{key:24s} {a:11.2f}{unit[0]} {b:11.2f}{unit[0]}   {b / a:5.2f}   {target}{ok}")
    print(f"objects in the BPT box: {results['source']['selected']:,} / {results['large']['selected']:,}")


if __name__ == "__main__":
    main()
