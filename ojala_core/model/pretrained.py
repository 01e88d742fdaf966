"""The OJALA model as one object: network + vocabulary + normalisation, saved as config.json + model.safetensors.

``Ojala.from_pretrained(path)`` / ``model.save_pretrained(path)`` follow the convention of
the model ecosystem. Not for training (see `ojala_core.train`) or batch inference
(see `ojala_core.model.inference`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..io.files import atomic_path
from ..io.tables import InputError
from ..vocabulary import Token, Vocabulary
from .config import ModelConfig
from .tokenizer import Normalisation, Tokenizer, TokenStatics
from .transformer import OjalaTransformer

__all__ = ["Ojala", "FineTunedHead", "FORMAT_VERSION", "weights_checksum"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_CONFIG_KEYS = {"format_version", "ojala_version", "model", "vocabulary", "normalisation", "heads", "info",
                "checksum"}
_RECORD_KEYS = set(Token.__dataclass_fields__) | {"pivot_wavelength"}


def weights_checksum(state: dict, vocabulary_names) -> str:
    """SHA-256 of every tensor (name, dtype, shape, bytes, in name order) and of the vocabulary order.

    Stored in config.json so that a bit-flipped weight or two swapped vocabulary records
    (which load without a shape error) are refused at load.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    digest.update("|".join(vocabulary_names).encode())
    return digest.hexdigest()


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
        self.calibration = None     # a `calibration.Calibration` once loaded from MODEL/calibration.json

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
        config["checksum"] = {"sha256": weights_checksum(state, self.vocabulary.names),
                              "covers": "model.safetensors tensors and the vocabulary order"}
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
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"{path}: not a model folder (no such folder) — give a folder with config.json "
                             "and model.safetensors, e.g. models/ojala-small")
        for name in ("config.json", "model.safetensors"):
            if not (path / name).is_file():
                raise InputError(f"{path / name}: not found — is {path} a model folder saved by save_pretrained?")
        config = _read_config(path / "config.json")
        try:
            vocabulary = Vocabulary.from_records(config["vocabulary"])
            normalisation = Normalisation.from_dict(config["normalisation"])
            model_config = ModelConfig(**config["model"])
        except (TypeError, ValueError, KeyError) as exc:
            raise InputError(f"{path / 'config.json'}: bad model description ({exc}) — re-save the model") from None
        if expected_vocabulary is not None and vocabulary.names != expected_vocabulary.names:
            missing = [n for n in expected_vocabulary.names if n not in vocabulary]
            extra = [n for n in vocabulary.names if n not in expected_vocabulary]
            raise InputError(f"{path}: weights were made for another vocabulary "
                             f"(missing tokens {missing[:8]}, unknown tokens {extra[:8]}, or another order) — "
                             "use 'ojala expand' to adapt them")
        for key in ("mean", "std"):
            if len(getattr(normalisation, key)) != len(vocabulary):
                raise InputError(f"{path / 'config.json'}: normalisation '{key}' has "
                                 f"{len(getattr(normalisation, key))} values for {len(vocabulary)} vocabulary tokens "
                                 "— re-save the model")
        model = cls(model_config, vocabulary, normalisation)
        for name, meta in config.get("heads", {}).items():
            model.add_head(name, FineTunedHead(model.config.d_model, meta["hidden"]))
        model.info = config.get("info", {})
        state = _read_weights(path / "model.safetensors")
        _check_finite(path, state)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            detail = str(exc).replace("\n", " ").replace("\t", "")
            raise InputError(f"{path / 'model.safetensors'}: weights do not fit the architecture and vocabulary "
                             f"({len(vocabulary)} tokens) in config.json ({detail[:300]}) — use the config.json "
                             "saved with these weights") from None
        _check_checksum(path, config, state, vocabulary)
        from ..calibration import Calibration

        try:
            model.calibration = Calibration.load(path)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return model.eval()


def _read_config(path) -> dict:
    """config.json of a model folder, with its keys checked (unknown keys refused by name)."""
    try:
        config = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}) — restore the config.json saved with the model") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object — restore the config.json saved with the model")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"{path}: model format {version!r} is not supported (this OJALA {__version__} reads format "
                         f"{FORMAT_VERSION}) — use the OJALA version that saved it, or re-save the model")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} — "
                         f"remove {'them' if len(unknown) > 1 else 'it'} (known: {', '.join(sorted(_CONFIG_KEYS))})")
    for key in ("model", "vocabulary", "normalisation"):
        if key not in config:
            raise InputError(f"{path}: no '{key}' — restore the config.json saved with the model")
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(config["model"]) - model_keys) if isinstance(config["model"], dict) else ["(not an object)"]
    if unknown:
        raise InputError(f"{path}: unknown 'model' key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} — known: {', '.join(sorted(model_keys))}")
    for i, record in enumerate(config["vocabulary"]):
        unknown = sorted(set(record) - _RECORD_KEYS) if isinstance(record, dict) else ["(not an object)"]
        if unknown:
            name = record.get("name") if isinstance(record, dict) else ""
            raise InputError(f"{path}: vocabulary record {i} ({name}) "
                             f"has unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    for name, meta in config.get("heads", {}).items():
        if not isinstance(meta, dict) or set(meta) != {"hidden"}:
            raise InputError(f"{path}: head '{name}' must be described by {{\"hidden\": N}} only")
    return config


def _read_weights(path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: corrupt or truncated safetensors file ({exc}) — restore model.safetensors "
                         "from where the model came from") from None


def _check_finite(path, state):
    for name in sorted(state):
        tensor = state[name]
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise InputError(f"{path / 'model.safetensors'}: tensor '{name}' holds {bad} non-finite values (NaN or "
                             "inf) — the weights are damaged; restore them or retrain")


def _check_checksum(path, config, state, vocabulary):
    """The stored checksum (tensors + vocabulary order), when the folder has one (older folders do not)."""
    stored = (config.get("checksum") or {}).get("sha256")
    if stored is None:
        log.warning("%s: config.json has no checksum (saved before OJALA stored one); weights loaded unchecked — "
                    "re-save the model to add one", path)
        return
    if weights_checksum(state, vocabulary.names) != stored:
        raise InputError(f"{path}: model.safetensors or the vocabulary order in config.json changed since the model "
                         "was saved (checksum mismatch) — restore both files as saved together")
