"""``ojala demo``: build whatever is missing (sky, mocks, VAC with the shipped weights) and serve
the explorer on it. Each stage is the same command a user would run, and resumes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["add_arguments", "run", "HELP"]

HELP = "build what is missing (sky, mocks, VAC with the shipped model) and serve the explorer"

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "ojala-small"


def add_arguments(p):
    p.add_argument("--preset", choices=["tiny", "default"], default="default",
                   help="size of the embedded synthetic sky (default: 164k objects, ~10 min to build)")
    p.add_argument("--data", default="data", help="folder for the sky, mocks and VAC (default ./data)")
    p.add_argument("--model", default=str(SHIPPED_MODEL), help="model folder (default: the shipped weights)")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--no-serve", action="store_true", help="build everything, do not start the server")


def run(args):
    from ojala_core.io.tables import InputError
    from ojala_core.mocks.build import MockInputs, build_mocks
    from ojala_core.sky.build import build_sky
    from ojala_core.vac.produce import produce_vac
    from ojala_core.zero_points import ZERO_POINTS_FILE, ZeroPoints

    data = Path(args.data)
    sky, mocks, vac = (data / f"{name}-{args.preset}" for name in ("sky", "mocks", "vac"))
    t0 = time.time()
    if not (Path(args.model) / "model.safetensors").exists():
        raise FileNotFoundError(f"{args.model}: no model.safetensors (train one with 'ojala train', see README)")
    # zero_points.json marks finished mocks: mocks made before it are completed (their parts are reused).
    steps = [("sky", sky / "manifest.json", lambda: build_sky(sky, preset=args.preset, seed=42)),
             ("mocks", mocks / ZERO_POINTS_FILE, lambda: build_mocks(MockInputs.from_sky(sky), mocks)),
             ("vac", vac / "manifest.json",
              lambda: produce_vac(args.model, sky / "jpas" / "jpas-catalogue.fits", vac,
                                  zero_points=ZeroPoints.load(mocks / ZERO_POINTS_FILE)))]
    for name, done, build in steps:
        if done.exists():
            print(f"demo: {name} already in {done.parent}")
            continue
        print(f"demo: building the {name} in {done.parent} ...", flush=True)
        build()
    made_with = (json.loads((vac / "manifest.json").read_text()).get("zero_points") or {}).get("offsets")
    if made_with != ZeroPoints.load(mocks / ZERO_POINTS_FILE).offsets:
        raise InputError(f"{vac}: made without the zero points of {mocks} (by an older ojala) — delete the folder "
                         "and run the demo again")
    print(f"demo: everything built in {time.time() - t0:.0f} s", flush=True)
    if args.no_serve:
        return
    from .app import serve

    serve(vac, args.model, mocks, str(sky / "desi" / "spectra" / "coadd-*.fits"), port=args.port,
          address=args.address)
