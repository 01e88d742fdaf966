"""Build the embedded synthetic DESI × J-PAS sky: plan shards, run them (resumably), write the products.

Writes DESI-format redshift catalogue, coadd spectra and VACs, the J-PAS catalogue as
observed by the "real" system, a truth table and ``manifest.json``. Not for the physics
(see `galaxies`, `qso`, `stars`, `jpas_system`, `desi`).
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import __version__
from ..io.files import count_rows, remove_stale_partials, write_json, write_parquet
from ..io.tables import InputError
from .desi_products import DESI_MEASUREMENTS, SKY_DESI_FILES, write_desi_products
from .galaxies import import_bagpipes
from .generate import ShardSpec, build_shard
from .jpas_products import JPAS_MEASUREMENTS, write_jpas_catalogue
from .jpas_system import JpasFootprint, JpasObservingSystem
from .populations import PRESETS, SKY_POPULATIONS, SkyPreset
from .stellar_library import GRID_SOURCES, load_grid

__all__ = ["build_sky", "plan_shards", "SKY_FILES"]

log = logging.getLogger(__name__)

# Product files relative to the sky folder: (path, FITS extension or None, what it is).
SKY_FILES = {
    **SKY_DESI_FILES,
    "jpas_catalogue": ("jpas/jpas-catalogue.fits", "JPAS",
                       "J-PAS catalogue as observed by the real system (CEFCA archive layout)"),
    "truth": ("truth.parquet", None, "ground truth of every object"),
}


def plan_shards(preset: SkyPreset) -> list[ShardSpec]:
    """Shards of every population, with globally unique OBJECT_ID ranges."""
    shards, first = [], 0
    for name in SKY_POPULATIONS:
        total = preset.counts.get(name, 0)
        for index, start in enumerate(range(0, total, preset.shard_size)):
            size = min(preset.shard_size, total - start)
            shards.append(ShardSpec(name, index, first + start, size))
        first += total
    return shards


def _shard_is_done(out_dir: Path, spec: ShardSpec) -> bool:
    # The Parquet table is written last, so its presence means the shard is complete.
    return (out_dir / "shards" / f"{spec.name}.parquet").exists()


_WORKER_ARGS: tuple = ()


def _init_worker(args):
    global _WORKER_ARGS
    _WORKER_ARGS = args


def _run_shard(spec):
    from threadpoolctl import threadpool_limits

    preset, seed, out_dir, footprint, system = _WORKER_ARGS
    # One BLAS thread: a shard's matrix products then sum in the same order whatever the parent process
    # set up before forking (a sky resumed by a fresh process equals one built inside a long-lived one).
    with threadpool_limits(1):
        return build_shard(spec, preset, seed, out_dir, footprint, system)


def build_sky(out_dir, preset: str = "tiny", seed: int = 42, workers: int = 2) -> dict:
    """Build (or resume) a synthetic sky in `out_dir`; returns the manifest.

    Parameters
    ----------
    out_dir : path
    preset : {'tiny', 'default'}
    seed : int
    workers : int
        Processes generating shards in parallel.
    """
    if preset not in PRESETS:
        raise InputError(f"unknown sky preset '{preset}'; choose from {', '.join(PRESETS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume_compatible(out_dir, preset, seed)
    stale = remove_stale_partials(out_dir)
    if stale:
        log.warning("%s: removed %d temporary file(s) left by an interrupted run", out_dir, len(stale))
    write_json(out_dir / "shards" / "plan.json", {"preset": preset, "seed": seed, "version": __version__})
    config = PRESETS[preset]
    footprint = JpasFootprint(tile_columns=config.jpas_tile_columns)
    system = JpasObservingSystem.draw(seed, footprint)
    (out_dir / "jpas").mkdir(exist_ok=True)
    (out_dir / "jpas" / "real-system.json").write_text(system.to_json())

    shards = plan_shards(config)
    todo = [s for s in shards if not _shard_is_done(out_dir, s)]
    if len(todo) < len(shards):
        log.warning("sky %s: resumed: reused %d of %d shards", preset, len(shards) - len(todo), len(shards))
    t0 = time.time()
    import_bagpipes()
    for grid in GRID_SOURCES:          # converted and loaded once, shared by the forked workers
        load_grid(grid)
    args = (config, seed, out_dir, footprint, system)
    with tqdm(total=sum(s.size for s in shards), initial=sum(s.size for s in shards if s not in todo),
              unit="obj", desc=f"sky {preset}") as bar:
        if workers > 1 and len(todo) > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(args,)) as pool:
                for spec, _ in zip(todo, pool.imap(_run_shard, todo)):
                    bar.update(spec.size)
        else:
            _init_worker(args)
            for spec in todo:
                _run_shard(spec)
                bar.update(spec.size)
    log.info("shards built in %.1f s", time.time() - t0)
    frame = pd.concat([pd.read_parquet(out_dir / "shards" / f"{s.name}.parquet") for s in shards],
                      ignore_index=True)
    files = _write_products(out_dir, frame, seed)
    manifest = {
        "preset": preset, "seed": seed, "version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reused_shards": len(shards) - len(todo),
        "counts": {
            "objects": int(len(frame)),
            "desi_labelled": int(frame["IN_DESI"].sum()),
            "jpas_catalogue": int(frame["IN_JPAS"].sum()),
            "jpas_x_desi": int((frame["IN_DESI"] & frame["IN_JPAS"]).sum()),
            "jpas_only": int((~frame["IN_DESI"] & frame["IN_JPAS"]).sum()),
            "by_population": {k: int(v) for k, v in frame["POPULATION"].value_counts().items()},
        },
        "jpas_footprint": {"desi_ra": footprint.desi_ra, "desi_dec": footprint.desi_dec,
                           "jpas_ra": footprint.jpas_ra, "n_tiles": footprint.n_tiles},
        "spectrum_sampling_angstrom": config.spectrum_dlam,
        "files": files,
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _check_resume_compatible(out_dir: Path, preset: str, seed: int):
    import json

    plan = out_dir / "shards" / "plan.json"
    if plan.exists():
        previous = json.loads(plan.read_text())
        if (previous["preset"], previous["seed"]) != (preset, seed):
            raise InputError(
                f"{out_dir} holds a sky built with preset={previous['preset']} seed={previous['seed']}; "
                f"refusing to mix it with preset={preset} seed={seed} (use another --out)")


def _write_products(out_dir: Path, frame: pd.DataFrame, seed: int) -> list[dict]:
    write_desi_products(out_dir, frame, seed)
    write_jpas_catalogue(out_dir / SKY_FILES["jpas_catalogue"][0], frame[frame["IN_JPAS"]], seed)
    # The truth table holds what no survey file measured.
    measured = {*JPAS_MEASUREMENTS, *DESI_MEASUREMENTS} | {
        c for c in frame.columns if c.startswith(("FLUX_", "FSF_", "MWS_"))}
    truth = frame[[c for c in frame.columns if c not in measured]].copy()
    truth["JPAS_NUMBER"] = np.where(frame["IN_JPAS"], frame["OBJECT_ID"] + 1, -1)
    write_parquet(out_dir / SKY_FILES["truth"][0], truth)

    files = []
    for key, (rel, ext, what) in SKY_FILES.items():
        files.append({"key": key, "path": rel, "hdu": ext, "rows": count_rows(out_dir / rel), "description": what})
    for path in sorted((out_dir / "desi" / "spectra").glob("coadd-*.fits")):
        files.append({"key": "desi_coadd", "path": str(path.relative_to(out_dir)), "hdu": "FIBERMAP",
                      "rows": count_rows(path), "description": "DESI-format coadd spectra"})
    return files
