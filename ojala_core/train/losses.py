"""Losses of OJALA training (DESIGN §8): heteroscedastic Gaussian NLL, class cross-entropy, weighted MMD.

Pure tensor functions. Not for choosing targets (see `masking`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gaussian_nll", "weighted_mmd2", "rbf_bandwidth", "ReweightingNetwork", "domain_adaptation_loss",
           "DA_LAMBDAS"]

# λ values of the paper (DESIGN §8).
DA_LAMBDAS = {"mmd": 0.2, "entropy": 0.1, "ess": 0.05, "ess_threshold": 0.7}


def gaussian_nll(mean, log_variance, target, label_sigma, scale=None):
    """½[(y − ŷ)²/σ²_tot + log σ²_tot] per element, σ²_tot = σ²_pred + σ²_label.

    Parameters
    ----------
    mean, log_variance, target, label_sigma : tensors of one shape (standardised units)
    scale : tensor, optional
        Divides residual and σ (e.g. (1+z)/std_z for redshifts, giving Δz/(1+z)).
    """
    variance = torch.exp(log_variance) + label_sigma ** 2
    residual = mean - target
    if scale is not None:
        residual = residual / scale
        variance = variance / scale ** 2
    return 0.5 * (residual ** 2 / variance + torch.log(variance))


def rbf_bandwidth(x, y):
    """Median pairwise distance of the pooled samples (detached): the RBF bandwidth."""
    z = torch.cat([x, y]).detach()
    d = torch.cdist(z, z)
    return d[d > 0].median().clamp(min=1e-6) if (d > 0).any() else torch.tensor(1.0, device=x.device)


def weighted_mmd2(source, target, target_weights=None, bandwidth=None):
    """Squared MMD between `source` (uniform weights) and `target` (weights summing to 1).

    Gaussian RBF kernel k(a, b) = exp(−|a − b|² / (2 h²)), h = median pairwise distance.
    """
    h = rbf_bandwidth(source, target) if bandwidth is None else bandwidth
    n, m = len(source), len(target)
    w_s = torch.full((n,), 1.0 / n, device=source.device)
    w_t = torch.full((m,), 1.0 / m, device=source.device) if target_weights is None else target_weights

    def k(a, b):
        return torch.exp(-torch.cdist(a, b) ** 2 / (2 * h ** 2))

    return (w_s @ k(source, source) @ w_s + w_t @ k(target, target) @ w_t
            - 2 * w_s @ k(source, target) @ w_t)


class ReweightingNetwork(nn.Module):
    """ψ: real-sample weights w = softmax(ψ(e)/τ) from object embeddings."""

    def __init__(self, d_model: int, hidden: int = 64, temperature: float = 1.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.temperature = temperature

    def forward(self, embedding):
        return torch.softmax(self.net(embedding).squeeze(-1) / self.temperature, dim=0)


def domain_adaptation_loss(synthetic, real, weights, lambdas=DA_LAMBDAS):
    """L_DA = λ_MMD (MMD² + λ_ent R_entropy + λ_ess R_ESS) and its parts.

    R_entropy = log m − H(w) (0 for uniform weights); R_ESS = (0.7 − ESS/m)² only when the
    effective sample size ESS = 1/Σw² falls below 70 % of the batch.
    """
    m = len(real)
    mmd2 = weighted_mmd2(synthetic, real, weights)
    entropy = -(weights * torch.log(weights.clamp(min=1e-12))).sum()
    r_entropy = math.log(m) - entropy
    ess_fraction = 1.0 / (weights ** 2).sum() / m
    r_ess = F.relu(lambdas["ess_threshold"] - ess_fraction) ** 2
    total = lambdas["mmd"] * (mmd2 + lambdas["entropy"] * r_entropy + lambdas["ess"] * r_ess)
    return total, {"mmd2": mmd2.detach(), "ess_fraction": ess_fraction.detach(), "r_entropy": r_entropy.detach()}
