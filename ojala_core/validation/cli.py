"""``ojala validate``: the validation report of a VAC against the mocks' Test-Real and Test-Synth, with baselines.

Only parses arguments and calls `report.build_report`. Not for the report's content.
"""
from __future__ import annotations

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    """Add the ``validate`` options to an argparse (sub)parser."""
    parser.add_argument("--vac", required=True, help="VAC folder made by 'ojala vac' (catalogue/ + manifest.json)")
    parser.add_argument("--mocks", required=True, help="mock folder with train, test_real and test_synth tables")
    parser.add_argument("--out", required=True, help="report folder (index.html, metrics.json, figures/)")
    parser.add_argument("--model", default=None, help="model folder (default: the one named in VAC/manifest.json)")
    parser.add_argument("--mag-limit", type=float, default=21.0, help="global metrics at MAG_i < this (default 21)")
    parser.add_argument("--min-count", type=int, default=100,
                        help="fewest objects in a sliding magnitude/redshift bin (default 100, as the paper)")
    parser.add_argument("--no-lephare", action="store_true", help="skip the LePHARE photo-z baseline")
    parser.add_argument("--lephare-max", type=int, default=300,
                        help="LePHARE fits at most this many random galaxies with i < limit (≈0.1–0.3 s each)")
    parser.add_argument("--lephare-work", default=None,
                        help="LEPHAREWORK folder, reused between runs (default OUT/lephare-work)")
    parser.add_argument("--no-hgb", action="store_true", help="skip the gradient-boosted-trees baseline")
    parser.add_argument("--hgb-max-iter", type=int, default=200, help="boosting iterations per HGB target")
    parser.add_argument("--finetune-steps", type=int, default=2000,
                        help="steps of the LOG_MBH head when the model has none (default 2000)")
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    """Build the report and print where it is with its headline numbers."""
    from .report import build_report

    metrics = build_report(args.vac, args.mocks, args.out, model_dir=args.model, mag_limit=args.mag_limit,
                           min_count=args.min_count, lephare=not args.no_lephare, lephare_max=args.lephare_max,
                           lephare_work=args.lephare_work, hgb=not args.no_hgb, hgb_max_iter=args.hgb_max_iter,
                           finetune_steps=args.finetune_steps, seed=args.seed)
    real = metrics["test_real"]
    galaxy = real["photoz"]["galaxy"]
    print(f"report in {args.out}/index.html ({metrics['meta']['seconds']:.0f} s); Test-Real, i < {args.mag_limit}: "
          f"weighted F1 {_fmt(real['classification']['full']['weighted_f1'])}, galaxy photo-z σ_NMAD "
          f"{_fmt(galaxy['sigma_nmad'])}, η {_fmt(galaxy['outlier_fraction'])}; LePHARE: "
          f"{metrics['baselines']['lephare']['reason']}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
