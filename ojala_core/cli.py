"""The ``ojala`` command line: one sub-command per pipeline stage, each a thin call into the library.

The library's own stages are defined here; the entry points of the apps (training, the
explorer) register themselves as ``ojala.commands`` entry points in pyproject.toml, each a
module with ``add_arguments(parser)``, ``run(args)`` and ``HELP``, so the library never
imports them.
"""
from __future__ import annotations

import argparse
import errno
import logging
import sys
import time
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

__all__ = ["main", "build_parser", "COMMAND_GROUP"]

COMMAND_GROUP = "ojala.commands"


def _cmd_sky(args):
    from .sky.build import build_sky

    t0 = time.time()
    manifest = build_sky(args.out, preset=args.preset, seed=args.seed, workers=args.workers)
    c = manifest["counts"]
    print(f"sky '{args.preset}' (seed {args.seed}) in {args.out}: {c['objects']} objects, "
          f"{c['desi_labelled']} DESI-labelled, {c['jpas_x_desi']} J-PAS x DESI, "
          f"{c['jpas_only']} J-PAS-only; {time.time() - t0:.0f} s")


def _cmd_sky_qa(args):
    from .sky.qa import sky_qa

    paths = sky_qa(args.sky, out=args.out)
    print(f"wrote {len(paths)} QA plots to {paths[0].parent if paths else args.out}")


def _cmd_mocks(args):
    from .io.desi import RedshiftCuts, expand_paths
    from .io.tables import InputError
    from .mocks.build import MockInputs, build_mocks
    from .mocks.qa import mocks_qa, zero_points_qa

    if args.sky:
        inputs = MockInputs.from_sky(args.sky, jpas_prefix=args.prefix, jpas_filters=args.jpas_filters,
                                     jpas_flags_threshold=args.jpas_flags_threshold)
    else:
        missing = [f"--{n.replace('_', '-')}" for n in ("desi_zcat", "desi_spectra", "jpas")
                   if not getattr(args, n)]
        if missing:
            raise InputError(f"give --sky DIR, or the real files: missing {', '.join(missing)}")
        spectra = expand_paths(args.desi_spectra)
        inputs = MockInputs(desi_zcatalog=args.desi_zcat, desi_spectra=spectra, jpas_catalogue=args.jpas,
                            desi_fastspec=args.desi_fastspec, desi_cigale=args.desi_cigale,
                            desi_mws=args.desi_mws, desi_bhmass=args.desi_bhmass, jpas_prefix=args.prefix,
                            jpas_filters=args.jpas_filters, jpas_flags_threshold=args.jpas_flags_threshold)
    inputs.bh_estimator, inputs.mws_pipeline = args.desi_bh_estimator, args.desi_mws_pipeline
    inputs.redshift_cuts = RedshiftCuts(min_deltachi2=args.desi_min_deltachi2,
                                        fiberstatus_zero=args.desi_fiberstatus_zero, objtype_tgt=args.desi_objtype_tgt)
    t0 = time.time()
    manifest = build_mocks(inputs, args.out, seed=args.seed, radius_arcsec=args.radius, scheduler=args.scheduler)
    plots = [mocks_qa(args.out), zero_points_qa(args.out)]
    rows = ", ".join(f"{f['split']} {f['rows']}" for f in manifest["files"])
    print(f"mocks in {args.out}: {rows}; zero points: {manifest['zero_points']['summary']}; "
          f"QA plots {', '.join(map(str, plots))}; {time.time() - t0:.0f} s")


def _cmd_evaluate(args):
    import json

    from .evaluation import evaluate_table
    from .model.pretrained import Ojala
    from .train.run import read_split

    model = Ojala.from_pretrained(args.model)
    scores = {split: evaluate_table(model, read_split(args.mocks, split), args.mag_limit)
              for split in ("test_synth", "test_real")}
    text = json.dumps(scores, indent=1)
    if args.out:
        from .io.files import write_json
        write_json(args.out, scores)
    if args.card:
        from .model.card import write_model_card
        report = json.loads(Path(args.report).read_text()) if args.report else None
        realism = json.loads(Path(args.realism).read_text()) if args.realism else None
        from .zero_points import ZERO_POINTS_FILE, ZeroPoints
        zero_points = Path(args.mocks) / ZERO_POINTS_FILE
        write_model_card(args.model, scores, args.card, report, realism,
                         ZeroPoints.load(zero_points).summary() if zero_points.exists() else None)
    print(text)


def _coverage_pair(entry: dict) -> str:
    if entry.get("within_1sigma") is None:
        return "–"
    return f"{entry['within_1sigma']:.3f}/{entry['within_2sigma']:.3f}"


def _cmd_calibrate(args):
    from .evaluation import calibrate_model

    result = calibrate_model(args.model, args.mocks, mag_limit=args.mag_limit)
    print(f"calibration of {args.model} fitted on Test-Synth (i < {args.mag_limit:g}) -> "
          f"{Path(args.model) / 'calibration.json'}")
    print(f"{'target':<12} {'σ scale':>8}  {'Test-Synth ±1σ/±2σ':>20}  {'Test-Real ±1σ/±2σ (raw → calibrated)':>38}")
    for name, scale in result["sigma_scale"].items():
        synth, real = result["test_synth"]["regression"][name], result["test_real"]["regression"][name]
        change = f"{_coverage_pair(real.get('raw', real))} → {_coverage_pair(real)}"
        print(f"{name:<12} {scale:>8.3f}  {_coverage_pair(synth):>20}  {change:>38}")
    for name, temperature in result["temperature"].items():
        real = result["test_real"]["classification"][name]
        raw = real.get("raw", real)
        print(f"{name}: temperature {temperature:.3f}; Test-Real ECE {raw['ece']:.4f} → {real['ece']:.4f}")
    whan = result["whan_passive_fit"]
    if whan["mean_f1"] is not None:
        print(f"WHAN passive: P(EW(Hα) < 3 Å) ≥ {whan['threshold']:.2f} (mean F1 of passive/SF/AGN on Test-Synth: "
              f"{whan['mean_f1_at_half']:.3f} at 0.5 → {whan['mean_f1']:.3f}, {whan['galaxies']} galaxies)")


def _cmd_vac(args):
    from .vac.produce import produce_vac

    manifest = produce_vac(args.model, args.catalog, args.out, prefix=args.prefix, chunk_rows=args.chunk_rows,
                           jpas_filters=args.jpas_filters, flags_threshold=args.jpas_flags_threshold,
                           batch_size=args.batch_size, id_column=args.id_column, scheduler=args.scheduler,
                           fits=args.fits, umap_fit_rows=args.umap_fit_rows, seed=args.seed, workers=args.workers,
                           precision=args.precision, zero_points=_zero_points(args.zero_points),
                           compiled=args.compile)
    s = manifest["summary"]
    print(f"VAC in {args.out}: {s['rows']} rows in {len(manifest['partitions'])} partitions, "
          f"{s['predicted']} predicted; "
          f"flagged: duplicate id {s['duplicate_id']}, no photometry {s['no_photometry']}, < 50 bands "
          f"{s['few_bands']}, no iSDSS {s['no_isdss']}, bad RA/DEC {s['bad_coordinates']}, outside the training set "
          f"{s['outside_training'] if manifest['outside_training'] else '(no reference set)'}; "
          f"{s['masked_band_values']} non-detected band values masked; {manifest['seconds']:.0f} s")
    print(f"zero points: {args.zero_points}" if args.zero_points else
          "zero points: none (the catalogue's photometry as it is; --zero-points MOCKS/zero_points.json puts it on "
          "the synthetic system of the training set)")
    if manifest["reused_partitions"]:
        print(f"resumed: reused {len(manifest['reused_partitions'])} finished partitions made from the same "
              "catalogue, model and options")


def _zero_points(path):
    from .zero_points import ZeroPoints

    return None if path is None else ZeroPoints.load(path)


def _cmd_index(args):
    import json

    from .vac.reference import REFERENCE_ROWS, build_reference

    folder = build_reference(args.model, args.mocks, rows=args.rows or REFERENCE_ROWS, seed=args.seed,
                             batch_size=args.batch_size)
    rows = json.loads((folder / "reference.json").read_text())["rows"]
    print(f"reference set of {args.model} in {folder}: {rows} training objects of {args.mocks} "
          "(every later 'ojala vac' with this model measures OUTLIER_SCORE and places UMAP_X/UMAP_Y against it)")


def _cmd_realism(args):
    from .realism import run_realism

    table = run_realism(args.model, args.out, n_per_set=args.n, seed=args.seed,
                        zero_points=_zero_points(args.zero_points))
    print((Path(args.out) / "realism.md").read_text())
    print(f"{len(table)} score rows; realism.json, realism.md and realism.png in {args.out}")


def _add_jpas_layout_arguments(p):
    from .io.jpas import DEFAULT_FLAGS_THRESHOLD

    p.add_argument("--jpas-filters", default=None, metavar="TABLE",
                   help="filter table of J-PAS archive array columns (FLUX_APER_COR_3_0[60] ...): 'minijpas', 'jnep', "
                        "or a file listing the filter names in array-index order; required for array columns")
    p.add_argument("--jpas-flags-threshold", type=int, default=DEFAULT_FLAGS_THRESHOLD, metavar="N",
                   help=f"a band is missing where its SExtractor FLAGS >= N (default {DEFAULT_FLAGS_THRESHOLD}: "
                        "neighbours (1) and deblended (2) kept, saturated or worse dropped); MASK_FLAGS != 0 always "
                        "drops it")


def _add_desi_arguments(p):
    from .io.desi_vacs import DEFAULT_BH_ESTIMATOR, MWS_PIPELINES

    files = "FILE"
    p.add_argument("--desi-zcat", nargs="+", metavar=files,
                   help="DESI redshift catalogue (zall-pix / zpix FITS; paths or quoted globs); ZCAT_PRIMARY rows")
    p.add_argument("--desi-spectra", nargs="+", metavar=files, help="DESI coadd files (paths or quoted globs)")
    p.add_argument("--desi-fastspec", nargs="+", metavar=files,
                   help="FastSpecFit VAC (v3.0: e.g. 'fastspec-iron-main-*-nside1-hp*.fits')")
    p.add_argument("--desi-cigale", nargs="+", metavar=files, help="CIGALE VAC (DR1 IronPhysProp)")
    p.add_argument("--desi-mws", nargs="+", metavar=files, help="MWS VAC (DR1 mwsall, RVTAB)")
    p.add_argument("--desi-bhmass", nargs="+", metavar=files, help="Mg II BH-mass VAC (HDU BHMASS)")
    p.add_argument("--desi-bh-estimator", default=DEFAULT_BH_ESTIMATOR, metavar="NAME",
                   help=f"Mg II mass column LOGMASS_NAME (default {DEFAULT_BH_ESTIMATOR})")
    p.add_argument("--desi-mws-pipeline", choices=MWS_PIPELINES, default="rvspecfit",
                   help="MWS stellar parameters from RVSpecfit (RVTAB, default) or FERRE (SPTAB, errors from COVAR)")
    p.add_argument("--desi-min-deltachi2", type=float, default=None, metavar="X",
                   help="good-z cut: no redshift/class label where DELTACHI2 < X (default: no cut)")
    p.add_argument("--desi-fiberstatus-zero", action="store_true",
                   help="good-z cut: no redshift/class label where COADD_FIBERSTATUS != 0")
    p.add_argument("--desi-objtype-tgt", action="store_true",
                   help="good-z cut: no redshift/class label where OBJTYPE != 'TGT'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ojala", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sky", help="build (or resume) the embedded synthetic DESI x J-PAS sky")
    p.add_argument("--preset", choices=["tiny", "default"], default="default")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.set_defaults(func=_cmd_sky)

    p = sub.add_parser("sky-qa", help="QA plots of a synthetic sky (PNG files)")
    p.add_argument("sky", help="sky folder made by 'ojala sky'")
    p.add_argument("--out", default=None, help="plot folder (default SKY/qa)")
    p.set_defaults(func=_cmd_sky_qa)

    p = sub.add_parser("mocks", help="DESI spectra + VACs and a J-PAS catalogue -> train / test_synth / "
                                     "test_real / jpas_unlabelled Parquet tables")
    p.add_argument("--sky", help="a sky folder made by 'ojala sky' (instead of the --desi-*/--jpas files)")
    p.add_argument("--out", required=True, help="output folder (MOCKDIR)")
    _add_desi_arguments(p)
    p.add_argument("--jpas", help="J-PAS catalogue (CSV, FITS or Parquet)")
    p.add_argument("--prefix", default="APER_COR_3_0", help="J-PAS photometry prefix (APER_COR_3_0, AUTO, ...)")
    _add_jpas_layout_arguments(p)
    p.add_argument("--radius", type=float, default=1.0, help="cross-match radius [arcsec] (default 1)")
    p.add_argument("--scheduler", default=None,
                   help="cross-match the HEALPix pixels as Dask tasks: 'local' or a scheduler address (default: "
                        "in this process; workers must see --out)")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_mocks)

    p = sub.add_parser("evaluate", help="headline scores of a model on Test-Synth and Test-Real (JSON)")
    p.add_argument("--model", required=True)
    p.add_argument("--mocks", required=True)
    p.add_argument("--mag-limit", type=float, default=21.0, help="MAG_i limit (default 21)")
    p.add_argument("--out", help="also write the scores to this JSON file")
    p.add_argument("--card", metavar="COMMAND",
                   help="also write MODEL/MODEL_CARD.md, quoting COMMAND as the training command")
    p.add_argument("--report", metavar="METRICS_JSON",
                   help="with --card: a validation report's metrics.json ('ojala validate') for the card's "
                        "OJALA vs HGB vs LePHARE tables")
    p.add_argument("--realism", metavar="REALISM_JSON",
                   help="with --card: the realism.json of 'ojala realism' for the card's realism check")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("calibrate", help="post-hoc calibration of a model's 1σ errors and class probabilities "
                                         "and its WHAN passive threshold, fitted on Test-Synth "
                                         "(MODEL/calibration.json), scored on Test-Real")
    p.add_argument("--model", required=True, help="model folder; calibration.json goes in it")
    p.add_argument("--mocks", required=True, help="mocks folder with test_synth and test_real")
    p.add_argument("--mag-limit", type=float, default=21.0, help="fit and score objects with MAG_i below this")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("vac", help="value-added catalogue of a J-PAS catalogue (partitioned Parquet + embeddings)")
    p.add_argument("--model", required=True, help="model folder (e.g. models/ojala-small)")
    p.add_argument("--catalog", required=True,
                   help="J-PAS catalogue: a CSV, FITS or Parquet file, or a folder/glob of them (partitioned)")
    p.add_argument("--out", required=True, help="VAC folder")
    p.add_argument("--prefix", default="APER_COR_3_0", help="photometry prefix (APER_COR_3_0, AUTO, ...)")
    _add_jpas_layout_arguments(p)
    p.add_argument("--chunk-rows", type=int, default=50_000, help="rows per partition")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--id-column", default=None, help="unique id column (default TILE_ID-NUMBER)")
    p.add_argument("--scheduler", default=None,
                   help="Dask: 'local' (a local cluster; the default for partitioned input) or a scheduler "
                        "address such as tcp://host:8786 (workers must see --out)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes predicting the partitions of one file (default: one per core for files of "
                        "100,000 rows or more, else 1: this process)")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="network arithmetic: float32 (eager, default) or bfloat16 (faster on CPUs with AVX-512 BF16; "
                        "within 0.2 sigma of float32)")
    p.add_argument("--compile", action="store_true",
                   help="run the network as one torch.compile'd pass per worker (needs a C++ compiler; 10-40 s of "
                        "compiling per worker; with --precision bfloat16 the fastest path, for large catalogues)")
    p.add_argument("--fits", action="store_true", help="also write fits/part-NNNNN.fits beside each partition")
    p.add_argument("--umap-fit-rows", type=int, default=20_000, help="UMAP is fitted on this many objects")
    p.add_argument("--seed", type=int, default=42, help="UMAP subsample and randomness")
    p.add_argument("--zero-points", default=None, metavar="JSON",
                   help="zero points that put the catalogue's photometry on the synthetic system of the training set "
                        "(MOCKS/zero_points.json, written by 'ojala mocks' from the matched stars); default: none")
    p.set_defaults(func=_cmd_vac)

    p = sub.add_parser("index", help="the model's fixed reference set (MODEL/reference/): embeddings and 2-D map "
                                     "of a seeded sample of its training objects, for OUTLIER_SCORE and the map")
    p.add_argument("--model", required=True, help="model folder (e.g. models/ojala-small); reference/ goes in it")
    p.add_argument("--mocks", required=True, help="mocks folder whose train.parquet the model was trained on")
    p.add_argument("--rows", type=int, default=None,
                   help="training objects in the reference set (default: as many as a VAC's UMAP sample)")
    p.add_argument("--seed", type=int, default=42, help="sample and UMAP seed")
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("realism", help="the model on photometry of external spectra the sky does not use "
                                       "(galaxy atlas, QSO composite, another stellar library), through ojala vac")
    p.add_argument("--model", required=True, help="model folder (e.g. models/ojala-small)")
    p.add_argument("--out", required=True, help="folder for the catalogue, its VAC and the scores")
    p.add_argument("--n", type=int, default=400, help="objects per set (galaxies, QSOs, stars)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--zero-points", default=None, metavar="JSON",
                   help="zero points that put the catalogue's photometry on the synthetic system of the training set "
                        "(MOCKS/zero_points.json, written by 'ojala mocks' from the matched stars); default: none; "
                        "the external catalogue is seen by the default sky's J-PAS system: give data/mocks-default's")
    p.set_defaults(func=_cmd_realism)

    from .validation import cli as validate

    p = sub.add_parser("validate", help="validation report of a VAC against DESI (HTML + metrics.json), "
                                        "with HGB and LePHARE baselines")
    validate.add_arguments(p)
    p.set_defaults(func=validate.run)

    for name, target in registered_commands().items():
        module = import_module(target)
        p = sub.add_parser(name, help=getattr(module, "HELP", None))
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def registered_commands() -> dict[str, str]:
    """Sub-command name -> module of the apps' entry points (``ojala.commands`` in pyproject.toml)."""
    return {ep.name: ep.value for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)}


# What to do about an operating-system error, by errno.
_OS_ADVICE = {errno.ENOSPC: "free some space or give an --out on another disk",
              errno.EDQUOT: "free some space or give an --out on another disk",
              errno.ENOTDIR: "a path above it is a file, not a folder; give another --out",
              errno.EISDIR: "it is a folder; give a file",
              errno.EEXIST: "something is in the way; give another --out",
              errno.EACCES: "check its permissions", errno.EPERM: "check its permissions",
              errno.EROFS: "the disk is read-only; give an --out on a writable disk",
              errno.ENOENT: "check the path"}


def error_line(command: str, exc: BaseException) -> str:
    """The one line ``ojala CMD: error: FILE[: column C][: row R]: what is wrong — what to do``."""
    if isinstance(exc, OSError) and not isinstance(exc, ValueError):
        where = exc.filename if exc.filename is not None else "output"
        what = exc.strerror or str(exc)
        text = f"{where}: {what}"
        advice = _OS_ADVICE.get(exc.errno)
        if advice:
            text += f" — {advice}"
    else:
        text = str(exc)
    return f"ojala {command}: error: " + " ".join(text.split())


def main(argv=None) -> int:
    from .io.tables import InputError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    # Bad input (InputError, raised at the readers' edges) and the operating system's refusals
    # (full disk, a file where a folder should be); anything else is a bug and keeps its traceback.
    except (InputError, OSError) as exc:
        print(error_line(args.command, exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
