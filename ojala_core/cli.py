"""The ``ojala`` command line: one sub-command per pipeline stage, each a thin call into the library."""
from __future__ import annotations

import argparse
import logging
import sys
import time

__all__ = ["main"]


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ojala", description=__doc__)
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"ojala {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
