"""A compiled network pass for one fixed token layout: the fast inference path of `predict`.

Every row of a batch holds the same context tokens in the same places (the catalogue's columns
the model may see; a missing value is padding) and asks the same queries, so the wavelength
attention biases are computed once and shared by every batch, and every batch has one shape
(`batch_size` rows; a short last batch is filled up with copies of its first row): `torch.compile`
(Inductor, which needs a C++ compiler) compiles the pass once per process and layout, with the
attention written out (see `transformer._explicit_attention`). Outputs match the eager pass within
the tolerance stated in `inference.PRECISIONS`. Not for training.
"""
from __future__ import annotations

import shutil
import weakref

import torch

from .transformer import OjalaTransformer

__all__ = ["CompiledPass", "compiled_pass", "check_compiler", "CompileUnavailable"]

# One compiled pass per network, token layout, batch size and precision, kept for the process's
# life (a VAC worker predicts many partitions with one model; a pass holds its network, so the
# entry is never dropped: a process that makes many models should not compile each).
_PASSES: "weakref.WeakKeyDictionary[OjalaTransformer, dict]" = weakref.WeakKeyDictionary()


class CompileUnavailable(OSError):
    """The compiled path cannot run here: no C++ compiler for Inductor (a missing program, like
    `FileNotFoundError` from `subprocess`)."""


class CompiledPass:
    """encode + decode of `net` for rows holding the tokens `context_ids` (L,) and asking `query_ids` (Q,).

    Call with values, errors (n, L) float32 and valid (n, L) bool (n ≤ `batch_size`); returns the
    standardised means and log-variances (n, Q), the logits (n, Q, C) and the embeddings (n, d).
    """

    def __init__(self, net: OjalaTransformer, context_ids, query_ids, batch_size: int, dtype=None):
        self.net = net
        self.context_ids = torch.as_tensor(context_ids, dtype=torch.long)
        self.query_ids = torch.as_tensor(query_ids, dtype=torch.long)
        self.batch_size = int(batch_size)
        self.dtype = dtype
        ctx, query = self.context_ids, self.query_ids
        with torch.no_grad():
            table = net.encoder_bias.table(net.log_wavelength, net.is_narrow, net.is_photometric)
            self.encoder_bias = table[:, ctx[:, None], ctx[None, :]][None].contiguous()
            table = net.decoder_bias.table(net.log_wavelength, net.is_narrow, net.is_photometric)
            self.decoder_bias = table[:, query[:, None], ctx[None, :]][None].contiguous()
        # One compiling thread: a VAC worker must not start a pool of compiler processes on a busy machine.
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = 1
        self._compiled = torch.compile(self._pass, dynamic=False)

    def _pass(self, values, errors, valid, padding):
        net = self.net
        n = values.shape[0]
        x = net.embed(self.context_ids.expand(n, -1), values, errors)
        # The padding is an additive (n, 1, 1, L) term made outside the compiled graph: Inductor's loop
        # over a mask it builds from booleans is ~2x slower than over a float input.
        padding = padding[:, None, None, :]
        memory, embedding = net.encode_embedded(x, self.encoder_bias + padding, valid)
        if not len(self.query_ids):                # embeddings only
            return memory[:, :0, 0], memory[:, :0, 0], memory[:, :0], embedding
        queries = net.queries(self.query_ids)[None].expand(n, -1, -1)
        mean, log_variance, logits = net.decode_queries(queries, memory, self.decoder_bias + padding)
        return mean, log_variance, logits, embedding

    @torch.no_grad()
    def __call__(self, values, errors, valid):
        n = len(values)
        if n > self.batch_size:
            raise ValueError(f"{n} rows given to a compiled pass of batch size {self.batch_size}")
        if n < self.batch_size:            # the same shape for every batch: no recompiling
            fill = self.batch_size - n
            values, errors, valid = (torch.cat([t, t[:1].expand(fill, -1)]) for t in (values, errors, valid))
        padding = torch.zeros(valid.shape).masked_fill(~valid, float("-inf"))
        with torch.autocast("cpu", dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            out = self._compiled(values, errors, valid, padding)
        return tuple(t[:n] for t in out)


def compiled_pass(net: OjalaTransformer, context_ids, query_ids, batch_size: int, dtype=None) -> CompiledPass:
    """The process's compiled pass for this network, layout, batch size and precision (made on first use).

    A pass is made again when the network's weights have changed since (their version counters)."""
    check_compiler()
    versions = tuple(p._version for p in net.parameters())
    key = (tuple(int(i) for i in context_ids), tuple(int(i) for i in query_ids), int(batch_size), dtype)
    passes = _PASSES.setdefault(net, {})
    made = passes.get(key)
    if made is None or made[0] != versions:
        made = passes[key] = (versions, CompiledPass(net, context_ids, query_ids, batch_size, dtype))
    return made[1]


def check_compiler() -> None:
    """Raise `CompileUnavailable` unless the C++ compiler Inductor calls (``$CXX``, else g++) is on PATH."""
    import torch._inductor.config as inductor_config

    compiler = inductor_config.cpp.cxx[-1] or "g++"
    if shutil.which(compiler) is None:
        raise CompileUnavailable(f"the compiled inference path needs a C++ compiler ('{compiler}' is not on PATH): "
                                 "install one (e.g. apt-get install g++) or leave compiling off")
