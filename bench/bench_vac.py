"""VAC throughput and the final pass at survey scale, as ratios measured in the same run, with peak memory.

Makes a catalogue of `--rows` rows by repeating a sky's J-PAS catalogue with new ids and
jittered fluxes (2 %, so no two objects share an embedding), then, each in a child process
whose peak RSS is read back: (i) the bare model (`predict`) on `--baseline-rows` rows, whose
embeddings also make a reference set for a copy of the model; (ii) `ojala vac` end to end with
that reference set (the intended mode) and (iii) with none (the shipped model: outliers against
the VAC itself); (iv) on the VAC's embeddings: recall@10 of the IVF index against exact search,
the previous final pass (exact all-pairs search + UMAP transform) on `--old-rows` rows against
the new one, and how far kNN-placed map points are from a direct UMAP transform:
    python bench/bench_vac.py --sky data/sky-default [--rows 200000] [--model models/ojala-small]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent


def make_catalogue(sky, rows, out, prefix="APER_COR_3_0_", seed=0) -> Path:
    """`rows` rows of the sky's J-PAS catalogue repeated: ids made unique (TILE_ID offset), fluxes jittered by 2 %."""
    cat = Table.read(Path(sky) / "jpas" / "jpas-catalogue.fits").to_pandas()
    for name in cat.columns:
        if cat[name].dtype == object:
            cat[name] = cat[name].str.decode("ascii")
    fluxes = [c for c in cat.columns if c.startswith(prefix) and not c.endswith("_ERR")]
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(int(np.ceil(rows / len(cat)))):
        part = cat.copy()
        part["TILE_ID"] = part["TILE_ID"] + 100_000 * (k + 1)
        part[fluxes] = part[fluxes].to_numpy() * (1 + 0.02 * rng.standard_normal((len(part), len(fluxes))))
        frames.append(part)
    path = Path(out) / "catalogue.parquet"
    pd.concat(frames, ignore_index=True).iloc[:rows].to_parquet(path, row_group_size=50_000)
    return path


def _child(code: str) -> tuple[dict, float]:
    """Run `code` in a fresh Python; return its printed JSON and its own peak RSS [GB]."""
    code += "\nimport resource; print(json.dumps({'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])["peak_kb"] / 1e6


_VAC = """
import json, time
from ojala_core.vac import produce
stages = {{}}
def timed(fn, name):
    def run(*a, **k):
        t = time.perf_counter(); r = fn(*a, **k); stages[name] = stages.get(name, 0) + time.perf_counter() - t
        return r
    return run
produce._final_pass = timed(produce._final_pass, "final_pass")
t0 = time.perf_counter()
m = produce.produce_vac({model!r}, {catalogue!r}, {out!r}, chunk_rows=50_000)
print(json.dumps({{"rows": m["summary"]["rows"], "seconds": time.perf_counter() - t0, **stages}}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sky", default="data/sky-default")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--model", default=str(ROOT / "models" / "ojala-small"))
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows for the bare model (and reference)")
    parser.add_argument("--old-rows", type=int, default=50_000, help="rows for the previous all-pairs final pass")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vac-") as tmp:
        catalogue = str(make_catalogue(args.sky, args.rows, tmp))
        with_ref = str(Path(tmp) / "model-with-reference")
        shutil.copytree(args.model, with_ref)
        shutil.rmtree(Path(with_ref) / "reference", ignore_errors=True)
        baseline, base_rss = _child(f"""
import json, time
import numpy as np
from ojala_core.io.jpas import iter_jpas_catalogue
from ojala_core.tokens import catalogue_tokens
from ojala_core.model.inference import predict
from ojala_core.io.files import weights_digest
from ojala_core.model.pretrained import Ojala
from ojala_core.vac.produce import vac_targets
from ojala_core.vac.reference import EmbeddingReference
model = Ojala.from_pretrained({args.model!r})
_, phot = next(iter_jpas_catalogue({catalogue!r}, chunk_rows={args.baseline_rows}))
tokens = catalogue_tokens(phot)
t0 = time.perf_counter()
_, emb = predict(model, tokens, targets=vac_targets(model), batch_size=256)
seconds = time.perf_counter() - t0
t0 = time.perf_counter()
EmbeddingReference.fit(emb[np.isfinite(emb).all(axis=1)], 42).save({with_ref!r} + "/reference",
    {{"source": "bench catalogue", "weights_sha256": weights_digest({with_ref!r})}})
print(json.dumps({{"rows": len(tokens), "seconds": seconds, "reference_seconds": time.perf_counter() - t0}}))
""")
        ref_vac, ref_rss = _child(_VAC.format(model=with_ref, catalogue=catalogue, out=str(Path(tmp) / "vac-ref")))
        own_vac, own_rss = _child(_VAC.format(model=args.model, catalogue=catalogue, out=str(Path(tmp) / "vac-own")))
        quality, q_rss = _child(f"""
import json, time, warnings
import numpy as np, faiss, umap
from ojala_core.vac.similarity import EmbeddingIndex, recall_at_k, load_embeddings
from ojala_core.vac.reference import EmbeddingReference, partition_columns
emb = load_embeddings({str(Path(tmp) / 'vac-own')!r})
emb = emb[np.isfinite(emb).all(axis=1)]
stored = EmbeddingIndex.load({str(Path(tmp) / 'vac-own')!r})
exact = faiss.IndexFlatL2(emb.shape[1]); exact.add(emb)
queries = emb[np.random.default_rng(0).choice(len(emb), 2000, replace=False)]
recall = recall_at_k(stored.index, exact, queries, k=10)
old = emb[:{args.old_rows}]
t0 = time.perf_counter()
EmbeddingIndex(old, exact_rows=len(old) + 1).outlier_scores(old)
old_search = time.perf_counter() - t0
rng = np.random.default_rng(1)
pick = rng.permutation(len(old))
nfit = min(20000, len(old) // 2)
fit = old[np.sort(pick[:nfit])]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    reducer = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=42)
    t0 = time.perf_counter(); coords = reducer.fit_transform(fit).astype(np.float32); fit_s = time.perf_counter() - t0
    t0 = time.perf_counter(); direct = reducer.transform(old); transform_s = time.perf_counter() - t0
ref = EmbeddingReference(fit, coords)
t0 = time.perf_counter(); placed = partition_columns(old, np.arange(len(old)), ref); new_s = time.perf_counter() - t0
held_rows = np.sort(pick[nfit:nfit + 2000])
err = np.hypot(placed["UMAP_X"][held_rows] - direct[held_rows, 0], placed["UMAP_Y"][held_rows] - direct[held_rows, 1])
extent = float(np.hypot(*(coords.max(0) - coords.min(0))))
print(json.dumps({{"n": len(emb), "recall10": recall, "old_rows": len(old), "old_exact_search_s": old_search,
    "umap_fit_s": fit_s, "old_transform_s": transform_s, "new_columns_s": new_s,
    "map_err_median": float(np.median(err)), "map_err_p90": float(np.percentile(err, 90)), "map_extent": extent}}))
""")
    model_rate = baseline["rows"] / baseline["seconds"]
    print(f"catalogue: {args.rows:,} rows (the sky's J-PAS catalogue repeated, fluxes jittered 2 %); "
          f"model {args.model}")
    print(f"bare model (predict, {baseline['rows']:,} rows): {model_rate:,.0f} obj/s, peak RSS {base_rss:.2f} GB; "
          f"reference set (UMAP of {baseline['rows']:,}) {baseline['reference_seconds']:.0f} s")
    for name, run, rss in (("with the model's reference set", ref_vac, ref_rss),
                           ("without (outliers against the VAC itself)", own_vac, own_rss)):
        rate = run["rows"] / run["seconds"]
        print(f"ojala vac {name}: {run['seconds']:.0f} s = {rate:,.0f} obj/s (x{rate / model_rate:.2f} the bare "
              f"model), final pass {run['final_pass']:.0f} s = {run['final_pass'] / run['rows'] * 1e6:.0f} us/obj, "
              f"peak RSS {rss:.2f} GB")
    q = quality
    old_total = q["old_exact_search_s"] + q["umap_fit_s"] + q["old_transform_s"]
    print(f"IVF similarity index on {q['n']:,} embeddings: recall@10 = {q['recall10']:.3f} (2,000 queries, exact "
          f"search as truth)")
    print(f"previous final pass on {q['old_rows']:,} rows: exact all-pairs {q['old_exact_search_s']:.0f} s + UMAP "
          f"fit {q['umap_fit_s']:.0f} s + transform {q['old_transform_s']:.0f} s = {old_total:.0f} s; new columns "
          f"(kNN outlier + placement) {q['new_columns_s']:.1f} s + the same one fit")
    print(f"map placement vs direct UMAP transform (2,000 held-out objects): median {q['map_err_median']:.2f}, "
          f"90th percentile {q['map_err_p90']:.2f}, map diagonal {q['map_extent']:.1f}; peak RSS {q_rss:.2f} GB")


if __name__ == "__main__":
    main()
