"""The Lightning module of OJALA training: masking game, losses, domain adaptation, evaluation.

Lightning provides the loop, checkpoints, resuming, mixed precision and multi-GPU data
parallel; this module says what one step is. Not for reading files (see `run`).
"""
from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import regression_summary, weighted_f1
from ..model.packing import pack_tokens
from ..model.pretrained import Ojala
from ..model.tokenizer import TokenTable
from .config import TrainConfig
from .losses import ReweightingNetwork, domain_adaptation_loss, gaussian_nll
from .masking import sample_masks

__all__ = ["OjalaLightning", "EVAL_SPLITS"]

EVAL_SPLITS = ("test_synth", "test_real")
_REDSHIFT_TOKENS = ("Z_GAL", "Z_QSO")


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
        is_z[[vocab.index(t) for t in _REDSHIFT_TOKENS if t in vocab]] = True
        self.register_buffer("is_redshift", is_z)
        self.spectype = vocab.index("SPECTYPE")
        self.morphtype = vocab.index("MORPHTYPE")
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
        context, targets, valid = sample_masks(present, net.is_label, self.token_weights)
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
            weights = self.psi(real_embedding.float())
            l_da, parts = domain_adaptation_loss(out["embedding"].float(), real_embedding.float(), weights)
            total = total + l_da
            losses.update(da=l_da, mmd2=parts["mmd2"], ess=parts["ess_fraction"])
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=False)
        self.log("train/loss", total, prog_bar=True)
        return total

    # -- evaluation ---------------------------------------------------------------------
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        values, errors, present = batch
        net = self.model.net
        vocab = self.model.vocabulary
        queries = [vocab.index(t) for t in ("SPECTYPE", "Z_GAL", "Z_QSO", "LOGM")]
        q = torch.tensor(queries, device=values.device)[None, :].expand(len(values), -1)
        ids, v, e, ok = pack_tokens(present & ~net.is_label, values, errors)
        out = net(ids, v, e, ok, q)
        store = self._eval.setdefault(EVAL_SPLITS[dataloader_idx], [])
        probs = torch.softmax(net.class_logits(out["logits"].float(), q)[:, 0], dim=-1)
        store.append({
            "true": values[:, queries].cpu(), "has": present[:, queries].cpu(),
            "mean": out["mean"].float().cpu(), "p": probs[:, :3].cpu(),
        })

    def on_validation_epoch_end(self):
        vocab = self.model.vocabulary
        norm = self.model.normalisation
        cats = vocab["SPECTYPE"].categories
        for split, items in self._eval.items():
            true = torch.cat([i["true"] for i in items]).numpy()
            has = torch.cat([i["has"] for i in items]).numpy()
            mean = torch.cat([i["mean"] for i in items]).numpy()
            p = torch.cat([i["p"] for i in items]).numpy()
            sel = has[:, 0]
            if sel.any():
                f1 = weighted_f1(np.array(cats)[true[sel, 0].astype(int)], np.array(cats)[p[sel].argmax(1)], cats)
                self.log(f"{split}/weighted_f1", f1)
            for j, name in ((1, "Z_GAL"), (2, "Z_QSO"), (3, "LOGM")):
                k = vocab.index(name)
                rows = has[:, j]
                if rows.sum() > 10:
                    pred = mean[rows, j] * norm.std[k] + norm.mean[k]
                    ref = true[rows, j] * norm.std[k] + norm.mean[k]
                    s = regression_summary(pred, ref, redshift=name.startswith("Z_"))
                    self.log(f"{split}/{name}_sigma_nmad", s["sigma_nmad"])
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
