"""``ojala train``: train a model on a mock folder from a config file."""
from __future__ import annotations

from pathlib import Path

HELP = "train a model on mocks (Lightning; CPU default, GPU if present)"

CONFIG_DIR = Path(__file__).parent / "configs"


def add_arguments(p):
    p.add_argument("--mocks", required=True, help="mock folder made by 'ojala mocks'")
    p.add_argument("--out", required=True, help="model folder (config.json, model.safetensors, checkpoints/, logs/)")
    p.add_argument("--config", default=str(CONFIG_DIR / "small.json"),
                   help="training config JSON (training/configs/{tiny,small,paper}.json)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this wall time")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    p.add_argument("--no-da", action="store_true", help="ablation: no domain adaptation (MMD) term")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--init-from", default=None, metavar="MODELDIR",
                   help="start from this trained model's weights (same preset), e.g. to chain a second run "
                        "with a fresh schedule after a first one; overrides the config's init_from")
    p.add_argument("--accelerator", default="auto", help="auto (GPU if present), cpu or gpu")


def run(args):
    from ojala_core.train.config import TrainConfig
    from ojala_core.train.run import train_model

    config = TrainConfig.from_json(args.config)
    if args.no_da:
        config.domain_adaptation = False
    if args.seed is not None:
        config.seed = args.seed
    if args.init_from is not None:
        config.init_from = args.init_from
    model = train_model(args.mocks, args.out, config, max_minutes=args.max_minutes, resume=args.resume,
                        accelerator=args.accelerator)
    print(f"model ({config.preset}, {model.n_parameters():,} parameters, {model.info['steps']} steps) "
          f"saved to {args.out}")
