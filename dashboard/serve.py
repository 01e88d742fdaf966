"""``ojala serve``: the explorer (Panel) over a VAC, until interrupted."""
from __future__ import annotations

__all__ = ["add_arguments", "run", "HELP"]

HELP = "the explorer (Panel) over a VAC"


def add_arguments(p):
    p.add_argument("--vac", required=True, help="VAC folder made by 'ojala vac'")
    p.add_argument("--model", help="model folder (default: the one that made the VAC)")
    p.add_argument("--mocks", help="mocks folder: joins DESI values of cross-matched objects (validation view)")
    p.add_argument("--desi-spectra", help="quoted glob of DESI coadd files, to overlay DESI spectra")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")


def run(args):
    from .app import serve

    serve(args.vac, args.model, args.mocks, args.desi_spectra, port=args.port, address=args.address)
