"""The OJALA network: token embedding, wavelength-biased encoder, query decoder, heads.

One forward path serves training and inference (the wavelength attention bias, the
padding masks and the all-targets-in-one-pass decoder are identical in both). Not for
tokenising tables or computing losses.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .tokenizer import TokenStatics

__all__ = ["OjalaTransformer", "ModelOutput"]


class WavelengthBias(nn.Module):
    """Relative attention bias from the wavelength separation of two photometric tokens.

    bias_h(i, j) = Σ_k a[h, p(i,j), k] exp(−(Δ_ij / w_k)²), Δ = |log λ_i − log λ_j| (scaled
    to [0, 1] over 3,000–60,000 Å), p the pair type (narrow–narrow, narrow–broad,
    broad–broad). Pairs with a non-photometric token get no bias.
    """

    def __init__(self, n_heads: int, n_kernels: int):
        super().__init__()
        self.amplitude = nn.Parameter(torch.zeros(n_heads, 3, n_kernels))
        self.register_buffer("widths", torch.logspace(math.log10(0.004), math.log10(0.6), n_kernels))

    def table(self, log_wavelength, narrow, photometric):
        """Bias between every pair of vocabulary tokens, (H, T, T): wavelengths are per token."""
        delta = (log_wavelength[:, None] - log_wavelength[None, :]).abs()
        kernels = torch.exp(-(delta[..., None] / self.widths) ** 2)               # (T, T, K)
        pair = 2 - narrow[:, None].long() - narrow[None, :].long()                 # 0 nn, 1 nb, 2 bb
        amplitude = self.amplitude[:, pair]                                        # (H, T, T, K)
        both = photometric[:, None] & photometric[None, :]
        return (amplitude * kernels).sum(-1) * both

    def forward(self, table, ids_q, ids_k):
        """Bias (B, H, Lq, Lk) for query and key token ids (B, Lq), (B, Lk); (1, H, Lq, Lk) when every
        row holds the same tokens (most batches at inference: the bias is then shared, not gathered per row)."""
        if bool((ids_q == ids_q[:1]).all()) and bool((ids_k == ids_k[:1]).all()):
            return table[:, ids_q[0, :, None], ids_k[0, None, :]][None]
        # One index_select on the flattened (T·T) table: ~5x faster than advanced indexing with two index arrays.
        h, t, _ = table.shape
        (b, lq), lk = ids_q.shape, ids_k.shape[1]
        pair = (ids_q[:, :, None] * t + ids_k[:, None, :]).reshape(-1)
        return table.reshape(h, t * t).index_select(1, pair).view(h, b, lq, lk).permute(1, 0, 2, 3)


class Attention(nn.Module):
    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, x_q, x_kv, mask):
        """`mask` (B or 1, H, Lq, Lk): the wavelength bias with −inf on padding (see `attention_mask`)."""
        b, lq, d = x_q.shape
        h = self.n_heads
        q = self.q(x_q).view(b, lq, h, d // h).transpose(1, 2)
        k, v = self.kv(x_kv).view(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        if torch.compiler.is_compiling() and not self.training:
            y = _explicit_attention(q, k, v, mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, lq, d))


def _explicit_attention(q, k, v, mask):
    """softmax(q kᵀ/√d + mask) v written out, for a compiled pass: Inductor fuses the scaling, the mask and
    the softmax into one loop between two batched matrix products, 2.5x faster on a CPU than the
    fused-attention kernel for this model's short sequences and narrow heads (61 tokens, 16 dimensions;
    bench/bench_inference_paths.py). The scores and the softmax are float32."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5 + mask
    return torch.matmul(torch.softmax(scores, dim=-1).to(v.dtype), v)


class SwiGLU(nn.Module):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.gate = nn.Linear(d, 2 * hidden)
        self.out = nn.Linear(hidden, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        a, g = self.gate(x).chunk(2, dim=-1)
        return self.out(self.drop(a * F.silu(g)))


class Block(nn.Module):
    """Pre-LN block: attention (self, or cross to a memory) then feed-forward."""

    def __init__(self, d, n_heads, ffn, dropout, cross=False):
        super().__init__()
        self.norm_q = nn.LayerNorm(d)
        # Only cross-attention normalises a separate memory (an unused norm would break DDP).
        self.norm_kv = nn.LayerNorm(d) if cross else None
        self.attention = Attention(d, n_heads, dropout)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = SwiGLU(d, ffn, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, memory, mask):
        kv = self.norm_q(x) if memory is None else self.norm_kv(memory)
        x = x + self.drop(self.attention(self.norm_q(x), kv, mask))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


def attention_mask(bias, key_valid):
    """The additive attention mask of one pass, shared by its blocks: the wavelength bias (B, H, Lq, Lk)
    with −inf on padded keys. Padding is a hard mask, never scaled."""
    if bool(key_valid.all()):
        return bias
    return bias.masked_fill(~key_valid[:, None, None, :], float("-inf"))


class ModelOutput(dict):
    """``mean``, ``log_variance`` (B, Q) standardised; ``logits`` (B, Q, C) over all categories;
    ``embedding`` (B, d) the object embedding."""


class OjalaTransformer(nn.Module):
    """Encoder over context tokens, decoder answering any set of requested tokens at once."""

    def __init__(self, config: ModelConfig, statics: TokenStatics):
        super().__init__()
        self.config = config
        d = config.d_model
        n_tokens = len(statics.is_class)
        for name, value in vars(statics).items():
            self.register_buffer(name, value.clone(), persistent=False)
        self.token_embedding = nn.Embedding(n_tokens, d)
        self.category_embedding = nn.Embedding(max(statics.total_categories, 1), d)
        self.value_embedding = nn.Sequential(nn.Linear(3, d), nn.GELU(), nn.Linear(d, d))
        self.physics_embedding = nn.Sequential(nn.Linear(2, d), nn.GELU(), nn.Linear(d, d))
        self.query_embedding = nn.Parameter(torch.zeros(d))
        self.encoder_bias = WavelengthBias(config.n_heads, config.bias_kernels)
        self.decoder_bias = WavelengthBias(config.n_heads, config.bias_kernels)
        self.encoder = nn.ModuleList(Block(d, config.n_heads, config.encoder_ffn, config.dropout)
                                     for _ in range(config.encoder_layers))
        self.encoder_norm = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(Block(d, config.n_heads, config.decoder_ffn, config.dropout, cross=True)
                                     for _ in range(config.decoder_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.regression_head = nn.Linear(d, 2)
        self.class_head = nn.Linear(d, max(statics.total_categories, 1))

    def _physics(self, ids):
        # The physics embedding depends on the token only: computed once per vocabulary token, then looked up.
        phys = torch.stack([self.log_wavelength, self.is_narrow.float()], dim=-1)
        table = self.physics_embedding(phys) * self.is_photometric[:, None]
        return table[ids]

    def encode(self, ids, values, errors, valid):
        """Encoder outputs (B, L, d) and object embeddings (B, d).

        ids, values, errors, valid : (B, L) context tokens (valid False = padding).
        """
        with torch.autocast(ids.device.type, enabled=False):
            table = self.encoder_bias.table(self.log_wavelength, self.is_narrow, self.is_photometric)
            mask = attention_mask(self.encoder_bias(table, ids, ids), valid)
        return self.encode_embedded(self.embed(ids, values, errors), mask, valid)

    def embed(self, ids, values, errors):
        """Input embeddings (B, L, d) of context tokens: token, value (or category) and physics parts."""
        # The input embedding stays float32 under a lower-precision autocast: values keep their digits.
        with torch.autocast(ids.device.type, enabled=False):
            is_class = self.is_class[ids]
            n_categories = self.category_embedding.num_embeddings
            cats = (self.category_offset[ids] + values.long().clamp(min=0)).clamp(max=n_categories - 1)
            numeric = torch.stack([values, errors, (errors > 0).float()], dim=-1)
            value_part = torch.where(is_class[..., None], self.category_embedding(cats),
                                     self.value_embedding(torch.where(is_class[..., None], torch.zeros_like(numeric),
                                                                      numeric)))
            return self.token_embedding(ids) + value_part + self._physics(ids)

    def encode_embedded(self, x, mask, valid):
        """`encode` from input embeddings `x` (B, L, d) and the encoder's attention mask (see `attention_mask`)."""
        for block in self.encoder:
            x = block(x, None, mask)
        x = self.encoder_norm(x)
        weights = valid.float()[..., None]
        # Object embedding: mean of the encoded context tokens (padding excluded).
        embedding = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return x, embedding

    def decode(self, memory, context_ids, valid, query_ids):
        """Answers (mean, log_variance, logits) for query tokens (B, Q) in one pass."""
        table = self.decoder_bias.table(self.log_wavelength, self.is_narrow, self.is_photometric)
        mask = attention_mask(self.decoder_bias(table, query_ids, context_ids), valid)
        return self.decode_queries(self.queries(query_ids), memory, mask)

    def queries(self, query_ids):
        """The decoder's input for query tokens (B, Q) → (B, Q, d)."""
        return self.token_embedding(query_ids) + self._physics(query_ids) + self.query_embedding

    def decode_queries(self, q, memory, mask):
        """`decode` from the queries' inputs `q` (B, Q, d) and the decoder's attention mask."""
        for block in self.decoder:
            q = block(q, memory, mask)
        q = self.decoder_norm(q)
        # The heads run in float32 under a lower-precision autocast: a bfloat16 answer keeps only
        # 3 significant digits (a redshift's mean would move by ~0.3 σ of the shipped model).
        with torch.autocast(q.device.type, enabled=False):
            q = q.float()
            mean, log_variance = self.regression_head(q).unbind(-1)
            return mean, log_variance.clamp(-12.0, 8.0), self.class_head(q)

    def forward(self, ids, values, errors, valid, query_ids):
        memory, embedding = self.encode(ids, values, errors, valid)
        mean, log_variance, logits = self.decode(memory, ids, valid, query_ids)
        return ModelOutput(mean=mean, log_variance=log_variance, logits=logits, embedding=embedding)

    def class_logits(self, logits, query_ids):
        """Logits of each query's own categories, (B, Q, max_categories), −inf where unused."""
        n_max = int(self.n_categories.max())
        offsets = self.category_offset[query_ids]
        idx = offsets[..., None] + torch.arange(n_max, device=logits.device)
        used = torch.arange(n_max, device=logits.device) < self.n_categories[query_ids][..., None]
        picked = logits.gather(-1, idx.clamp(max=logits.shape[-1] - 1))
        return picked.masked_fill(~used, float("-inf"))
