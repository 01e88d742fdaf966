"""The Lightning module of OJALA training: masking game, losses, domain adaptation, evaluation.

Lightning provides the loop, checkpoints, resuming, mixed precision and multi-GPU data
parallel; this module says what one step is. Not for reading files (see `run`).
"""
from __future__ import annotations

import math

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..model.packing import pack_tokens
from ..model.pretrained import Ojala
from ..model.tokenizer import TokenTable
from ..scoring import headline_scores
from ..vocabulary import CLASS
from .config import TrainConfig
from .losses import ReweightingNetwork, domain_adaptation_loss, gaussian_nll
from .masking import sample_masks

__all__ = ["OjalaLightning", "EVAL_SPLITS", "observed_only_rows", "MMD_MIN_OBJECTS"]

EVAL_SPLITS = ("test_synth", "test_real")
MMD_MIN_OBJECTS = 8       # fewer label-free synthetic contexts in a batch: the step has no DA term


def observed_only_rows(context: torch.Tensor, is_label: torch.Tensor, minimum: int = MMD_MIN_OBJECTS):
    """Rows of a batch whose context holds no label (the only kind a real object can have), or None if too few.

    context : (B, T) bool, the tokens each synthetic object shows; is_label : (T,) bool.
    """
    rows = torch.nonzero(~(context & is_label[None, :]).any(1)).squeeze(1)
    return rows if len(rows) >= minimum else None


class OjalaLightning(L.LightningModule):
    """One training step = the masking game on a synthetic batch (+ MMD to a real batch)."""

    def __init__(self, model: Ojala, config: TrainConfig, token_weights: torch.Tensor,
                 real: TokenTable | None = None):
        super().__init__()
        self.model = model
        self.config = config
        self.real = real
        vocab = model.vocabulary
        self.register_buffer("token_weights", token_weights.float())
        self.register_buffer("norm_mean", torch.tensor(model.normalisation.mean, dtype=torch.float32))
        self.register_buffer("norm_std", torch.tensor(model.normalisation.std, dtype=torch.float32))
        is_z = torch.zeros(len(vocab), dtype=torch.bool)
        is_z[[vocab.index(t) for t in vocab.redshifts]] = True
        self.register_buffer("is_redshift", is_z)
        self.register_buffer("eval_queries", torch.tensor([vocab.index(t) for t in vocab.targets], dtype=torch.long),
                             persistent=False)
        self.spectype = vocab.index("SPECTYPE")
        self.morphtype = vocab.index("MORPHTYPE")
        droppable = torch.zeros(len(vocab), dtype=torch.bool)
        droppable[[vocab.index(t) for t in ["MORPHTYPE", *vocab.legacy_magnitudes.values()]]] = True
        self.register_buffer("droppable", droppable, persistent=False)
        self.psi = ReweightingNetwork(model.config.d_model) if (config.domain_adaptation and real is not None) else None
        self._eval = {}

    # -- losses -----------------------------------------------------------------------
    def target_losses(self, out, targets, valid, values, errors):
        """L_reg (Gaussian NLL, redshifts as Δz/(1+z)), L_cls (SPECTYPE), L_morph (MORPHTYPE)."""
        net = self.model.net
        y = values.gather(1, targets)
        label_sigma = errors.gather(1, targets)
        is_class = net.is_class[targets]
        regression = valid & ~is_class
        std = self.norm_std[targets]
        z_phys = y * std + self.norm_mean[targets]
        scale = torch.where(self.is_redshift[targets], (1.0 + z_phys.clamp(min=0.0)) / std, torch.ones_like(y))
        nll = gaussian_nll(out["mean"].float(), out["log_variance"].float(), y, label_sigma, scale)
        zero = y.new_zeros(())
        l_reg = nll[regression].mean() if regression.any() else zero
        logits = net.class_logits(out["logits"].float(), targets)
        losses = {"reg": l_reg}
        for name, index in (("cls", self.spectype), ("morph", self.morphtype)):
            sel = valid & (targets == index)
            losses[name] = F.cross_entropy(logits[sel], y[sel].long()) if sel.any() else zero
        return losses

    def training_step(self, batch, batch_idx):
        values, errors, present = batch
        net = self.model.net
        context, targets, valid = sample_masks(present, net.is_label, self.token_weights,
                                               label_fraction=self.config.label_fraction,
                                               droppable=self.droppable, drop_fraction=self.config.context_dropout)
        ids, v, e, ok = pack_tokens(context, values, errors)
        out = net(ids, v, e, ok, targets)
        losses = self.target_losses(out, targets, valid, values, errors)
        # 0 × logits keeps the class head in the graph when a batch has no class target (DDP).
        total = losses["reg"] + losses["cls"] + losses["morph"] + 0.0 * out["logits"].sum()
        if self.psi is not None:
            pick = torch.randint(len(self.real), (len(values),))
            real = self.real.subset(pick)
            rv, re, rp = real.values.to(self.device), real.errors.to(self.device), real.present.to(self.device)
            rctx, _, _ = sample_masks(rp, net.is_label, self.token_weights)
            _, real_embedding = net.encode(*pack_tokens(rctx, rv, re))
            # ψ sees the real embeddings; the MMD compares them with synthetic embeddings made from the
            # same kind of context (observations only: real objects have no labels), not with ones
            # whose context holds labels.
            weights = self.psi(real_embedding.float())
            rows = observed_only_rows(context, net.is_label)
            if rows is None:       # too few label-free contexts in this batch: no DA term (ψ kept in the graph)
                none = weights.new_zeros(())
                l_da, parts = 0.0 * weights.sum(), {"mmd2": none, "ess_fraction": none}
            else:
                l_da, parts = domain_adaptation_loss(out["embedding"][rows].float(), real_embedding.float(), weights)
            total = total + l_da
            losses.update(da=l_da, mmd2=parts["mmd2"], ess=parts["ess_fraction"])
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=False)
        self.log("train/loss", total, prog_bar=True)
        return total

    # -- evaluation ---------------------------------------------------------------------
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Every default target from the observations only (as `ojala evaluate` asks them)."""
        values, errors, present = batch
        net = self.model.net
        q = self.eval_queries.to(values.device)[None, :].expand(len(values), -1)
        ids, v, e, ok = pack_tokens(present & ~net.is_label, values, errors)
        out = net(ids, v, e, ok, q)
        store = self._eval.setdefault(EVAL_SPLITS[dataloader_idx], [])
        store.append({"true": values[:, self.eval_queries].cpu(), "has": present[:, self.eval_queries].cpu(),
                      "mean": out["mean"].float().cpu(), "log_variance": out["log_variance"].float().cpu(),
                      "p": torch.softmax(net.class_logits(out["logits"].float(), q), dim=-1).cpu()})

    def _eval_tables(self, items) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Truth and predictions of the collected batches as physical-unit tables for `headline_scores`."""
        vocab, tokenizer = self.model.vocabulary, self.model.tokenizer
        cat = {key: torch.cat([i[key] for i in items]).numpy() for key in items[0]}
        truth, pred = {}, {}
        for j, k in enumerate(self.eval_queries.tolist()):
            token = vocab.tokens[k]
            has = cat["has"][:, j]
            if token.kind == CLASS:
                names = np.array(token.categories, dtype=object)
                truth[token.name] = np.where(has, names[cat["true"][:, j].astype(int)], None)
                pred[token.name] = names[cat["p"][:, j, :len(names)].argmax(1)]
                continue
            true, _ = tokenizer.decode(k, cat["true"][:, j], np.zeros(len(has)))
            truth[token.name] = np.where(has, true, np.nan)
            pred[token.name], pred[f"{token.name}_ERR"] = tokenizer.decode(k, cat["mean"][:, j],
                                                                           cat["log_variance"][:, j])
        return pd.DataFrame(truth), pd.DataFrame(pred)

    def on_validation_epoch_end(self):
        for split, items in self._eval.items():
            truth, pred = self._eval_tables(items)
            for key, score in headline_scores(truth, pred, self.model.vocabulary).items():
                if key == "weighted_f1":
                    self.log(f"{split}/weighted_f1", score)
                elif isinstance(score, dict) and score.get("n", 0) > 10:
                    self.log(f"{split}/{key}_sigma_nmad", score["sigma_nmad"])
        self._eval = {}

    # -- optimisation -------------------------------------------------------------------
    def configure_optimizers(self):
        params = list(self.model.parameters()) + (list(self.psi.parameters()) if self.psi is not None else [])
        optimiser = torch.optim.AdamW(params, lr=self.config.learning_rate, weight_decay=self.config.weight_decay)
        warmup, total = self.config.warmup_steps, max(self.config.max_steps, 1)

        def schedule(step):
            if step < warmup:
                return (step + 1) / warmup
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
