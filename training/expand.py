"""``ojala expand``: add tokens (a new band or label) to a trained model, keeping its weights."""
from __future__ import annotations

HELP = "add tokens to a trained model, keeping its weights"


def add_arguments(p):
    p.add_argument("--model", required=True, help="trained model folder")
    p.add_argument("--out", required=True, help="folder for the expanded model")
    p.add_argument("--token", required=True, action="append",
                   help="NAME (a token of the default vocabulary, taken with all its roles) or NAME:KIND[:FILTER] "
                        "(KIND nb_flux, magnitude or regression); repeatable")


def run(args):
    from ojala_core.filters import FILTER_SOURCES
    from ojala_core.io.tables import InputError
    from ojala_core.model.expand import expand_vocabulary
    from ojala_core.model.pretrained import Ojala
    from ojala_core.vocabulary import DEFAULT_VOCABULARY, Token

    tokens = []
    for spec in args.token:
        if ":" not in spec:
            if spec not in DEFAULT_VOCABULARY:
                raise InputError(f"--token {spec}: not a token of the default vocabulary; give NAME:KIND[:FILTER]")
            tokens.append(DEFAULT_VOCABULARY[spec])
            continue
        name, kind, *rest = spec.split(":")
        if kind not in ("nb_flux", "magnitude", "regression"):
            raise InputError(f"--token {spec}: kind must be nb_flux, magnitude or regression")
        filt = rest[0] if rest else None
        if filt is not None and filt not in FILTER_SOURCES:
            raise InputError(f"--token {spec}: unknown filter '{filt}'; known: {', '.join(FILTER_SOURCES)}")
        label = kind == "regression"       # a new label is a default target: the VAC and explorer predict it
        tokens.append(Token(name, kind, filter=filt, narrow=kind == "nb_flux", is_label=label, is_target=label))
    model = expand_vocabulary(Ojala.from_pretrained(args.model), tokens)
    model.save_pretrained(args.out)
    print(f"expanded vocabulary ({len(model.vocabulary)} tokens, added {', '.join(t.name for t in tokens)}) "
          f"saved to {args.out}")
