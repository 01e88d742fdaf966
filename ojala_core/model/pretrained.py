"""The OJALA model as one object: network + vocabulary + normalisation, saved as config.json + model.safetensors.

``Ojala.from_pretrained(path)`` / ``model.save_pretrained(path)`` follow the convention of
the model ecosystem. Not for training (see `ojala_core.train`) or batch inference
(see `ojala_core.model.inference`).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..io.files import atomic_path
from ..vocabulary import Vocabulary
from .config import ModelConfig
from .tokenizer import Normalisation, Tokenizer, TokenStatics
from .transformer import OjalaTransformer

__all__ = ["Ojala", "FineTunedHead", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class FineTunedHead(nn.Module):
    """A light regression head on frozen object embeddings: embedding -> (mean, log σ²).

    Predicts a new property (e.g. LOG_MBH) in its own standardised units (mean, std).
    """

    def __init__(self, d_model: int, hidden: int = 64, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, embedding):
        mu, log_var = self.net(embedding).unbind(-1)
        return mu, log_var.clamp(-12.0, 8.0)

    def physical(self, embedding):
        """Mean and 1σ in the property's own units."""
        mu, log_var = self(embedding)
        return mu * self.std + self.mean, torch.exp(0.5 * log_var) * self.std


class Ojala(nn.Module):
    """Network, tokenizer and fine-tuned heads of one OJALA model."""

    def __init__(self, config: ModelConfig, vocabulary: Vocabulary, normalisation: Normalisation):
        super().__init__()
        self.config = config
        self.vocabulary = vocabulary
        self.tokenizer = Tokenizer(vocabulary, normalisation)
        self.net = OjalaTransformer(config, TokenStatics.from_vocabulary(vocabulary))
        self.heads = nn.ModuleDict()
        self.info: dict = {}

    @property
    def normalisation(self) -> Normalisation:
        return self.tokenizer.normalisation

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def add_head(self, name: str, head: FineTunedHead):
        self.heads[name] = head

    def save_pretrained(self, path):
        """Write ``config.json`` and ``model.safetensors`` into folder `path` (atomically)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION, "ojala_version": __version__,
            "model": self.config.to_dict(), "vocabulary": self.vocabulary.to_records(),
            "normalisation": self.normalisation.to_dict(),
            "heads": {name: {"hidden": head.net[0].out_features} for name, head in self.heads.items()},
            "info": self.info,
        }
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(path / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        with atomic_path(path / "config.json") as tmp:
            tmp.write_text(json.dumps(config, indent=1) + "\n")

    @classmethod
    def from_pretrained(cls, path, expected_vocabulary: Vocabulary | None = None) -> "Ojala":
        """Load a saved model; refuse weights made for another vocabulary.

        Parameters
        ----------
        path : folder with config.json and model.safetensors
        expected_vocabulary : Vocabulary, optional
            The vocabulary the caller's code uses; a different one is an error.
        """
        from safetensors.torch import load_file

        path = Path(path)
        for name in ("config.json", "model.safetensors"):
            if not (path / name).exists():
                raise FileNotFoundError(f"{path / name}: not found (is {path} a model folder?)")
        config = json.loads((path / "config.json").read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: model format {config.get('format_version')} is not {FORMAT_VERSION}")
        vocabulary = Vocabulary.from_records(config["vocabulary"])
        if expected_vocabulary is not None and vocabulary.names != expected_vocabulary.names:
            missing = [n for n in expected_vocabulary.names if n not in vocabulary]
            extra = [n for n in vocabulary.names if n not in expected_vocabulary]
            raise ValueError(f"{path}: weights were made for another vocabulary "
                             f"(missing tokens {missing[:8]}, unknown tokens {extra[:8]}, or another order); "
                             "use 'ojala expand' to adapt them")
        model = cls(ModelConfig(**config["model"]), vocabulary, Normalisation.from_dict(config["normalisation"]))
        for name, meta in config.get("heads", {}).items():
            model.add_head(name, FineTunedHead(model.config.d_model, meta["hidden"]))
        model.info = config.get("info", {})
        state = load_file(str(path / "model.safetensors"))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not fit the architecture in config.json ({exc})") from None
        return model.eval()
