"""Where the browser spends a table click: a Chromium CPU profile (DevTools `Profiler` over CDP) of
opening objects from the explorer's table, with BokehJS unminified so that functions have names.

Serves `--vac` with ``ojala serve``, opens the page in Debian Chromium (Playwright), clicks table
rows `--rows` one after the other and prints, per click, the time until the object view shows it
and the functions with the most inclusive time (e.g. Bokeh's ``repaint``, ``compute_layout``,
``blit_webgl``); "(idle)" is mostly the wait for the server. The README's explorer section quotes it:
    python bench/profile_click.py --vac data/vac-default --mocks data/mocks-default [--rows 0 3]
"""
from __future__ import annotations

import argparse
import collections
import os
import time

from bench_explorer import CHROMIUM, FLAGS, ROOT, _free_port, start_server, wait_for_server


def _inclusive_ms(profile) -> collections.Counter:
    """Inclusive time [ms] per function (name file:line) of a DevTools CPU profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}

    def name(node_id):
        frame = nodes[node_id]["callFrame"]
        source = frame["url"].split("/")[-1].split("?")[0]
        return f'{frame["functionName"] or "(anonymous)"} {source}:{frame["lineNumber"]}'
    total = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"][1:] + [0]):
        seen, node = set(), sample
        while node is not None:
            key = name(node)
            if key not in seen:
                total[key] += delta / 1000
                seen.add(key)
            node = parent.get(node)
    return total


def main():
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vac", default="data/vac-default")
    parser.add_argument("--mocks", default=None)
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 3], help="table rows clicked, in turn")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    port = _free_port()
    proc = start_server(args.vac, args.mocks, args.model, port, env=dict(os.environ, BOKEH_MINIFIED="false"))
    try:
        wait_for_server(proc, port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", timeout=300_000)
            page.locator("#table-count").first.wait_for(timeout=300_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(3000)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            for n, i in enumerate(args.rows):
                row = page.locator(".tabulator-row").nth(i)
                wanted = row.locator("[tabulator-field='JPAS_ID']").inner_text().strip()
                cdp.send("Profiler.start")
                t = time.perf_counter()
                row.click()
                page.locator(f"#object-title[data-jpas-id='{wanted}'][data-bands]").first.wait_for(timeout=60_000)
                seconds = time.perf_counter() - t
                total = _inclusive_ms(cdp.send("Profiler.stop")["profile"])
                print(f"click {n + 1} (table row {i}): {seconds:.3f} s to the object view, under the profiler")
                for key, ms in total.most_common(args.top):
                    print(f"  {ms:7.1f} ms  {key}")
                page.wait_for_timeout(1000)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
