"""VAC throughput: `ojala vac` end to end on a catalogue of ≥ 200,000 rows, with peak memory.

Makes the catalogue by repeating a sky's J-PAS catalogue with new ids (Parquet), then runs
in the same process tree (i) the bare model (`predict`, all targets) on the same rows as the
baseline and (ii) the whole VAC job (reading, tokens, model, derived columns, writing, FAISS
outlier scores, UMAP), each in a child process whose peak RSS is read back. Prints objects/s,
the VAC/model ratio and the time 1 M objects would take, next to the paper's ~45 min:
    python bench/bench_vac.py --sky data/sky-default [--rows 250000] [--model models/ojala-small]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent
PAPER_SECONDS_PER_MILLION = 45 * 60


def make_catalogue(sky, rows, out) -> Path:
    """`rows` rows of the sky's J-PAS catalogue repeated, ids made unique (TILE_ID offset per copy)."""
    cat = Table.read(Path(sky) / "jpas" / "jpas-catalogue.fits").to_pandas()
    for name in cat.columns:
        if cat[name].dtype == object:
            cat[name] = cat[name].str.decode("ascii")
    copies = int(np.ceil(rows / len(cat)))
    frames = []
    for k in range(copies):
        part = cat.copy()
        part["TILE_ID"] = part["TILE_ID"] + 100_000 * (k + 1)
        frames.append(part)
    big = pd.concat(frames, ignore_index=True).iloc[:rows]
    path = Path(out) / "catalogue.parquet"
    big.to_parquet(path, row_group_size=50_000)
    return path


def _child(code: str) -> tuple[dict, float]:
    """Run `code` in a fresh Python; return its printed JSON and its own peak RSS [GB]."""
    code += "\nimport resource; print(json.dumps({'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])["peak_kb"] / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sky", default="data/sky-default")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--baseline-rows", type=int, default=50_000, help="rows for the bare-model baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vac-") as tmp:
        catalogue = make_catalogue(args.sky, args.rows, tmp)
        baseline, base_rss = _child(f"""
import json, time
from ojala_core.io.jpas import iter_jpas_catalogue
from ojala_core.tokens import catalogue_tokens
from ojala_core.model.inference import predict
from ojala_core.model.pretrained import Ojala
model = Ojala.from_pretrained({args.model!r})
_, phot = next(iter_jpas_catalogue({str(catalogue)!r}, chunk_rows={args.baseline_rows}))
tokens = catalogue_tokens(phot)
t0 = time.perf_counter()
predict(model, tokens, batch_size=256)
print(json.dumps({{"rows": len(tokens), "seconds": time.perf_counter() - t0}}))
""")
        vac, vac_rss = _child(f"""
import json, time
from ojala_core.vac.produce import produce_vac
t0 = time.perf_counter()
m = produce_vac({args.model!r}, {str(catalogue)!r}, {str(Path(tmp) / 'vac')!r})
print(json.dumps({{"rows": m["summary"]["rows"], "seconds": time.perf_counter() - t0}}))
""")
    model_rate = baseline["rows"] / baseline["seconds"]
    vac_rate = vac["rows"] / vac["seconds"]
    million = 1e6 / vac_rate
    print(f"catalogue: {vac['rows']:,} rows (the sky's J-PAS catalogue repeated); model {args.model}")
    print(f"bare model (predict, all targets, {baseline['rows']:,} rows): {model_rate:,.0f} obj/s, "
          f"peak RSS {base_rss:.2f} GB")
    print(f"ojala vac end to end: {vac['seconds']:.0f} s = {vac_rate:,.0f} obj/s, peak RSS {vac_rss:.2f} GB")
    print(f"ratio VAC / bare model throughput: {vac_rate / model_rate:.2f}")
    print(f"1 M objects: {million / 60:.1f} min at this rate (paper: ~45 min on a consumer CPU; "
          f"ratio {million / PAPER_SECONDS_PER_MILLION:.2f})")


if __name__ == "__main__":
    main()
