"""Architecture presets of the OJALA model (DESIGN §8).

Not for training hyper-parameters (see `ojala_core.train.config`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ModelConfig", "MODEL_PRESETS"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the transformer.

    Attributes
    ----------
    d_model : int            width of every token representation
    n_heads : int            attention heads (encoder and decoder)
    encoder_layers : int
    encoder_ffn : int        hidden width of the encoder feed-forward (SwiGLU)
    decoder_layers : int
    decoder_ffn : int
    dropout : float
    bias_kernels : int       Gaussian kernels of the relative wavelength attention bias
    """

    d_model: int = 128
    n_heads: int = 16
    encoder_layers: int = 2
    encoder_ffn: int = 1024
    decoder_layers: int = 3
    decoder_ffn: int = 2048
    dropout: float = 0.1
    bias_kernels: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


MODEL_PRESETS = {
    # seconds on a CPU: for tests
    "tiny": ModelConfig(d_model=32, n_heads=2, encoder_layers=1, encoder_ffn=64, decoder_layers=1,
                        decoder_ffn=64, dropout=0.0, bias_kernels=4),
    # trainable on a 2-core CPU in about an hour
    "small": ModelConfig(d_model=64, n_heads=4, encoder_layers=2, encoder_ffn=256, decoder_layers=2,
                         decoder_ffn=256, dropout=0.1),
    # the paper's architecture (Sect. 3): for GPU machines
    "paper": ModelConfig(),
}
