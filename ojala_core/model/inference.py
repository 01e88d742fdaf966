"""High-level inference: a table of whatever columns objects have in, predictions out.

Encoder once per object, all requested tokens answered in one decoder pass, batched and
deterministic (eval mode, no dropout). Not for training.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

from ..calibration import tempered
from ..vocabulary import CLASS
from .compiled import compiled_pass
from .packing import pack_tokens
from .pretrained import Ojala

__all__ = ["predict", "PRECISIONS"]

# Arithmetic of the network at inference. float32 is eager PyTorch, the reference. bfloat16 runs the
# transformer blocks' matrix products in bfloat16 (torch autocast; the input embedding, layer norms,
# softmax and outputs stay float32): 1.6x faster on CPUs with AVX-512 BF16, slower on others. Its
# tolerance against float32, checked by tests/test_shipped_model.py: every prediction within 0.2 σ
# (its own predictive σ) for 99 % of objects, the same class for 99.5 %. Measured on 20,000 Test-Real
# objects of the default mocks: 99th percentile 0.02-0.06 σ, TEFF 0.14 σ; classes agree for 99.99 %.
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}

@torch.no_grad()
def predict(model: Ojala, table: pd.DataFrame, targets: Iterable[str] | None = None,
            context: Iterable[str] | None = None, batch_size: int = 256, embeddings: bool = True,
            calibrated: bool = True, precision: str = "float32", compiled: bool = False):
    """Predict `targets` for every row of `table`.

    Parameters
    ----------
    model : Ojala
    table : DataFrame (or anything `pandas.DataFrame` accepts, e.g. an Arrow table)
        Columns named by the vocabulary (value, optional ``_ERR``); others are ignored.
    targets : token names to predict (class tokens give probabilities) and fine-tuned heads;
        default the model's own default targets (``model.vocabulary.targets``) and its heads.
    context : token names the model may see; default every non-label token present
        (requested tokens are always hidden from the context).
    batch_size : int
    calibrated : apply the model's post-hoc calibration (``MODEL/calibration.json``: a σ scale per
        regression target, a softmax temperature per class token) when it has one
    precision : ``"float32"`` (default) or ``"bfloat16"`` (faster matrix products, within 0.2 σ; see `PRECISIONS`)
    compiled : run the network as one `torch.compile`d pass over the table's own token layout
        (`ojala_core.model.compiled`; needs a C++ compiler, compiles for ~10-40 s once per process;
        within the same tolerance as bfloat16; in bfloat16 about 1.6x eager bfloat16 on one thread, 2x on two)

    Returns
    -------
    predictions : DataFrame
        ``NAME`` and ``NAME_ERR`` (1σ of the predictive Gaussian, physical units) for
        regression tokens; ``NAME`` (most probable class) and ``P_NAME_{CLASS}`` for class
        tokens; ``N_CONTEXT`` (tokens seen). Rows with no usable token get NaN.
    embedding : ndarray (n, d_model) float32, or None
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}' (choose from {sorted(PRECISIONS)})")
    if not isinstance(table, pd.DataFrame):
        table = table.to_pandas() if hasattr(table, "to_pandas") else pd.DataFrame(table)
    model.eval()
    vocab = model.vocabulary
    targets = list(vocab.targets) + list(model.heads) if targets is None else list(targets)
    token_targets = [t for t in targets if t not in model.heads]
    head_targets = [t for t in targets if t in model.heads]
    query = torch.tensor([vocab.index(t) for t in token_targets], dtype=torch.long)
    allowed = torch.zeros(len(vocab), dtype=torch.bool)
    if context is None:
        allowed[:] = ~model.net.is_label
    else:
        allowed[[vocab.index(t) for t in context]] = True
    allowed[query] = False  # a requested token is never part of its own context

    tokens = model.tokenizer.encode(table)
    n = len(table)
    means = np.full((n, len(token_targets)), np.nan, dtype=np.float32)
    logvars = np.full_like(means, np.nan)
    max_cat = int(model.net.n_categories.max()) if len(vocab) else 1
    probs = np.full((n, len(token_targets), max(max_cat, 1)), np.nan, dtype=np.float32)
    emb = np.full((n, model.config.d_model), np.nan, dtype=np.float32)
    n_context = np.zeros(n, dtype=np.int32)
    head_out = {f"{name}{suffix}": np.full(n, np.nan) for name in head_targets for suffix in ("", "_ERR")}
    if compiled:
        # Every row holds the allowed tokens the table has columns for, in vocabulary order (missing = padding).
        layout = torch.tensor([i for i in torch.nonzero(allowed).squeeze(1).tolist()
                               if vocab.tokens[i].name in table.columns], dtype=torch.long)
        network = compiled_pass(model.net, layout, query, batch_size, PRECISIONS[precision])
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        mask = tokens.present[sl] & allowed[None, :]
        ok = mask.any(1)
        n_context[sl] = mask.sum(1).numpy()
        if not ok.any():
            continue
        rows = torch.nonzero(ok).squeeze(1)
        idx = start + rows.numpy()
        q = query[None, :].expand(len(rows), -1)
        if compiled:
            valid = mask[rows][:, layout]
            mean, log_var, logits, embedding = network(tokens.values[sl][rows][:, layout] * valid,
                                                       tokens.errors[sl][rows][:, layout] * valid, valid)
        else:
            ids, v, e, valid = pack_tokens(mask[rows], tokens.values[sl][rows], tokens.errors[sl][rows])
            with torch.autocast("cpu", dtype=PRECISIONS[precision] or torch.bfloat16,
                                enabled=PRECISIONS[precision] is not None):
                memory, embedding = model.net.encode(ids, v, e, valid)
                if len(query):
                    mean, log_var, logits = model.net.decode(memory, ids, valid, q)
        emb[idx] = embedding.float().numpy()
        if len(query):
            means[idx], logvars[idx] = mean.float().numpy(), log_var.float().numpy()
            probs[idx] = torch.softmax(model.net.class_logits(logits.float(), q), dim=-1).numpy()
        for name in head_targets:
            mu, sigma = model.heads[name].physical(embedding.float())
            head_out[name][idx], head_out[f"{name}_ERR"][idx] = mu.numpy(), sigma.numpy()
    out = {"N_CONTEXT": n_context}
    calibration = model.calibration if calibrated else None
    for j, name in enumerate(token_targets):
        token = vocab[name]
        if token.kind == CLASS:
            p = probs[:, j, :len(token.categories)]
            if calibration is not None and name in calibration.temperature:
                p = tempered(p, calibration.temperature[name])
            for k, cat in enumerate(token.categories):
                out[f"P_{name}_{cat}"] = p[:, k]
            best = np.where(np.isfinite(p).all(1), np.nanargmax(np.nan_to_num(p, nan=-1), axis=1), -1)
            out[name] = np.where(best >= 0, np.array(token.categories, dtype=object)[best], None)
        else:
            value, sigma = model.tokenizer.decode(vocab.index(name), means[:, j], logvars[:, j])
            if calibration is not None:
                sigma = sigma * calibration.sigma_scale.get(name, 1.0)
            out[name], out[f"{name}_ERR"] = value, sigma
    out.update(head_out)
    return pd.DataFrame(out, index=table.index), (emb if embeddings else None)

