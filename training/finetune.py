"""``ojala finetune``: a light head on frozen embeddings for a new property (default LOG_MBH)."""
from __future__ import annotations

HELP = "fit a light head on frozen embeddings (e.g. LOG_MBH)"


def add_arguments(p):
    p.add_argument("--model", required=True, help="trained model folder")
    p.add_argument("--mocks", required=True, help="mock folder with the property as a column")
    p.add_argument("--target", default="LOG_MBH", help="column to learn (default LOG_MBH)")
    p.add_argument("--out", required=True, help="folder for the model with its new head")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)


def run(args):
    import numpy as np

    from ojala_core.metrics import bias, sigma_nmad
    from ojala_core.model.inference import predict
    from ojala_core.model.pretrained import Ojala
    from ojala_core.train.finetune import finetune_head
    from ojala_core.train.run import read_split

    model = Ojala.from_pretrained(args.model)
    result = finetune_head(model, read_split(args.mocks, "train"), args.target, steps=args.steps, seed=args.seed)
    model.save_pretrained(args.out)
    test = read_split(args.mocks, "test_real")
    test = test[np.isfinite(test[args.target])]
    pred, _ = predict(model, test, targets=[args.target])
    residual = pred[args.target].to_numpy() - test[args.target].to_numpy()
    print(f"head '{args.target}' fitted on {result['n_objects']} objects, saved to {args.out}; "
          f"Test-Real ({len(test)} objects): bias {bias(residual):+.3f}, sigma_NMAD {sigma_nmad(residual):.3f} "
          f"(label spread {np.std(test[args.target]):.3f})")
