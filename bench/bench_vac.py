"""VAC throughput at survey scale, as ratios measured in the same run, with peak memory and disk.

Makes a catalogue of `--rows` rows by repeating a sky's J-PAS catalogue (flat layout) with new ids
and fluxes jittered by 2 % (no two objects share an embedding): one Parquet file, or with more rows
than `--file-rows` a folder of such files (partitioned input, run through a local Dask cluster).
Then, each in a child process whose peak RSS is read back (the process itself and its largest
worker): (i) the bare model (`predict`, float32, bfloat16 and bfloat16 compiled) on `--baseline-rows`
rows, in one process; (ii) ``ojala vac`` end to end with the shipped model (its reference set), float32,
bfloat16 and bfloat16 compiled (``--precision bfloat16 --compile``, compiling included); (iii)
today's path before this work, the code at `--baseline-ref` run on the same catalogue (skipped above
`--old-max-rows`: its duplicate-id check was quadratic in N); (iv) recall@10 of the VAC's IVF
similarity index against exact search on 2,000 of its objects:
    python bench/bench_vac.py --sky data/sky-default [--rows 200000] [--baseline-ref 65fd28f]
    python bench/bench_vac.py --sky data/sky-default --rows 10000000 --skip float32-old   # the 10 M run
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "APER_COR_3_0_"


def make_catalogue(sky, rows, out, file_rows=1_000_000, seed=0) -> Path:
    """`rows` rows of the sky's J-PAS catalogue repeated (TILE_ID offset per copy, fluxes jittered 2 %),
    written one file of at most `file_rows` rows at a time; a folder of files when more than one."""
    import pandas as pd

    from ojala_core.io.jpas import flat_catalogue

    base = flat_catalogue(Path(sky) / "jpas" / "jpas-catalogue.fits")
    fluxes = [c for c in base.columns if c.startswith(PREFIX) and not c.endswith("_ERR")]
    rng = np.random.default_rng(seed)
    folder = Path(out) / "catalogue"
    folder.mkdir(parents=True)
    copy, cursor, written, k = 0, 0, 0, 0          # copy number and position in the base catalogue
    while written < rows:
        frames, n = [], 0
        while n < min(file_rows, rows - written):
            part = base.iloc[cursor:cursor + min(file_rows - n, rows - written - n)].copy()
            cursor += len(part)
            if cursor == len(base):
                cursor, copy = 0, copy + 1
            part["TILE_ID"] = part["TILE_ID"] + 100_000 * (copy + 1)
            part[fluxes] = part[fluxes].to_numpy() * (1 + 0.02 * rng.standard_normal((len(part), len(fluxes))))
            frames.append(part)
            n += len(part)
        pd.concat(frames, ignore_index=True).to_parquet(folder / f"jpas-{k:04d}.parquet", row_group_size=50_000)
        written += n
        k += 1
    return folder / "jpas-0000.parquet" if k == 1 else folder


def _disk_gb(path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e9


def _child(code: str, tmp, pythonpath=None) -> dict:
    """Run `code` as a script in a fresh Python; its printed JSON with its peak RSS and its largest child's [GB]."""
    import os

    code += ("\nimport json, resource\nprint(json.dumps({'peak_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss"
             " / 1e6, 'worker_peak_gb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6}))\n")
    script = Path(tmp) / f"child-{time.monotonic_ns()}.py"
    script.write_text(code)
    env = dict(os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {}))
    out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    lines = out.stdout.strip().splitlines()
    return {**json.loads(lines[-2]), **json.loads(lines[-1])}


_BARE = """
import json, time
from ojala_core.io.jpas import iter_jpas_catalogue
from ojala_core.tokens import catalogue_tokens
from ojala_core.model.inference import predict
from ojala_core.model.pretrained import Ojala
from ojala_core.vac.produce import vac_targets
model = Ojala.from_pretrained({model!r})
_, phot = next(iter_jpas_catalogue({catalogue!r}, chunk_rows={rows}))
tokens = catalogue_tokens(phot)
rates = {{}}
for name, options in (("float32", {{}}), ("bfloat16", {{"precision": "bfloat16"}}),
                      ("bfloat16-compiled", {{"precision": "bfloat16", "compiled": True}})):
    predict(model, tokens.head(512), targets=vac_targets(model), **options)     # warm-up (and compiling)
    t0 = time.perf_counter()
    predict(model, tokens, targets=vac_targets(model), batch_size=256, **options)
    rates[name] = len(tokens) / (time.perf_counter() - t0)
print(json.dumps({{"rows": len(tokens), **rates}}))
"""

_VAC = """
import json, time
from ojala_core.vac import produce
if __name__ == "__main__":
    t0 = time.perf_counter()
    m = produce.produce_vac({model!r}, {catalogue!r}, {out!r}, chunk_rows=50_000, **{options!r})
    print(json.dumps({{"rows": m["summary"]["rows"], "seconds": time.perf_counter() - t0}}))
"""

_RECALL = """
import json
import numpy as np, faiss
from ojala_core.vac.similarity import EmbeddingIndex, recall_at_k, load_embeddings
emb = load_embeddings({vac!r})
emb = np.ascontiguousarray(emb[np.isfinite(emb).all(axis=1)])
exact = faiss.IndexFlatL2(emb.shape[1]); exact.add(emb)
queries = emb[np.random.default_rng(0).choice(len(emb), 2000, replace=False)]
print(json.dumps({{"n": len(emb), "recall10": recall_at_k(EmbeddingIndex.load({vac!r}).index, exact, queries, 10)}}))
"""

RUNS = {"float32": {"precision": "float32"}, "bfloat16": {"precision": "bfloat16"},
        "bfloat16-compiled": {"precision": "bfloat16", "compiled": True}, "float32-old": {}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sky", default="data/sky-default")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--file-rows", type=int, default=1_000_000, help="rows per catalogue file")
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows for the bare model")
    parser.add_argument("--baseline-ref", default="65fd28f", help="git commit of today's path (before this work)")
    parser.add_argument("--old-max-rows", type=int, default=200_000,
                        help="run today's path up to this many rows (its duplicate-id check is quadratic)")
    parser.add_argument("--skip", nargs="*", default=[], choices=list(RUNS), help="VAC runs to leave out")
    parser.add_argument("--tmp", default=None, help="folder for the catalogue and VACs (default: system temp)")
    parser.add_argument("--keep", default=None, help="move the float32 VAC here at the end (e.g. for "
                                                     "bench/bench_explorer.py --large)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vac-", dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        catalogue = str(make_catalogue(args.sky, args.rows, tmp, args.file_rows))
        made = time.perf_counter() - t0
        print(f"catalogue: {args.rows:,} rows ({'one file' if catalogue.endswith('.parquet') else 'a folder'}, "
              f"{_disk_gb(Path(tmp) / 'catalogue'):.1f} GB, made in {made:.0f} s); model {args.model}", flush=True)
        first = catalogue if catalogue.endswith(".parquet") else str(sorted(Path(catalogue).iterdir())[0])
        bare = _child(_BARE.format(model=args.model, catalogue=first, rows=args.baseline_rows), tmp)
        print(f"bare model (predict, {bare['rows']:,} rows, one process): float32 {bare['float32']:,.0f} obj/s, "
              f"bfloat16 {bare['bfloat16']:,.0f} obj/s, bfloat16 compiled {bare['bfloat16-compiled']:,.0f} obj/s "
              f"(after compiling)", flush=True)
        old_code = None
        if "float32-old" not in args.skip and args.rows <= args.old_max_rows:
            old_code = Path(tmp) / "old"
            old_code.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline_ref, "ojala_core"], cwd=ROOT, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive, check=True)
        runs = {}
        for name, options in RUNS.items():
            if name in args.skip or (name == "float32-old" and old_code is None):
                continue
            out = Path(tmp) / f"vac-{name}"
            run = _child(_VAC.format(model=args.model, catalogue=catalogue, out=str(out), options=options), tmp,
                         pythonpath=old_code if name == "float32-old" else None)
            run["disk_gb"] = _disk_gb(out)
            runs[name] = run
            rate = run["rows"] / run["seconds"]
            what = f"today's path ({args.baseline_ref})" if name == "float32-old" else f"this path, {name}"
            print(f"ojala vac, {what}: {run['seconds']:.0f} s = {rate:,.0f} obj/s (x{rate / bare['float32']:.2f} the "
                  f"bare float32 model); peak RSS {run['peak_gb']:.2f} GB, largest worker {run['worker_peak_gb']:.2f} "
                  f"GB; VAC {run['disk_gb']:.1f} GB on disk", flush=True)
            if name != "float32" and name in runs:
                shutil.rmtree(out)                                 # disk: keep only the float32 VAC for recall
        if "float32" in runs and "float32-old" in runs:
            ratio = runs["float32-old"]["seconds"] / runs["float32"]["seconds"]
            print(f"this path / today's path (float32): x{ratio:.2f} objects/s")
        if "float32" in runs:
            q = _child(_RECALL.format(vac=str(Path(tmp) / "vac-float32")), tmp)
            print(f"IVF similarity index on {q['n']:,} embeddings: recall@10 = {q['recall10']:.3f} "
                  f"(2,000 queries, exact search as truth)")
            if args.keep:
                shutil.move(str(Path(tmp) / "vac-float32"), args.keep)
                print(f"kept the float32 VAC in {args.keep}")


if __name__ == "__main__":
    main()
