# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Keeping a VQ codebook in use: EMA codebook updates and dead-code restarts.

Plain VQGAN training moves only the codes that encoder outputs pick, so codes that start far from the data are never
picked again and the usable codebook shrinks (a known failure of VQ training: partial codebook updates collapse usage). Two remedies,
usable together:

- **EMA updates** (VQ-VAE, van den Oord et al. 2017, App. A.1; VQ-VAE-2): each code is the exponential moving average
  of the encoder outputs assigned to it, `N_k <- d N_k + (1 - d) n_k`, `m_k <- d m_k + (1 - d) sum z`, `e_k = m_k / N_k`
  (with Laplace smoothing of `N`), instead of a gradient step on the codebook loss. Codes follow the data more
  steadily, and the codebook loss no longer needs a weight.
- **Dead-code restarts** (Jukebox, Dhariwal et al. 2020; SoundStream): a code unused for `dead_code_threshold`
  optimizer steps is re-initialised to a random encoder output of the current batch, so it lands where the data is.

[`CodebookMaintenance`] collects the assignments during the forward passes of one optimizer step (`observe`) and
updates the codebook after the optimizer step (`step`), so a gradient step and an EMA step never touch the codebook
at the same time. Under DDP the statistics are summed over the ranks and rank 0 picks the restart vectors, so every
rank holds the same codebook. Its statistics are buffers: they are saved in checkpoints and restored on resume.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class CodebookMaintenance(nn.Module):
    r"""
    EMA updates and dead-code restarts for a codebook `nn.Embedding(num_embeddings, embed_dim)`.

    Args:
        num_embeddings (`int`): Codebook size.
        embed_dim (`int`): Code dimension.
        ema_decay (`float`, *optional*): EMA decay `d` (0.99 is usual); `None` leaves the codebook to the optimizer.
        dead_code_threshold (`int`, *optional*, defaults to 0): Restart a code after this many optimizer steps without
            use; 0 disables restarts.
        epsilon (`float`, *optional*, defaults to 1e-5): Laplace smoothing of the EMA cluster sizes.
        restart_pool_size (`int`, *optional*, defaults to 4096): Encoder outputs kept from the step's last batch to
            draw restart vectors from.
    """

    def __init__(
        self,
        num_embeddings: int,
        embed_dim: int,
        *,
        ema_decay: float | None = None,
        dead_code_threshold: int = 0,
        epsilon: float = 1e-5,
        restart_pool_size: int = 4096,
    ):
        super().__init__()
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"`ema_decay` must be in (0, 1) or None, got {ema_decay!r}.")
        if (
            isinstance(dead_code_threshold, bool)
            or not isinstance(dead_code_threshold, int)
            or dead_code_threshold < 0
        ):
            raise ValueError(f"`dead_code_threshold` must be a non-negative integer, got {dead_code_threshold!r}.")
        self.num_embeddings = num_embeddings
        self.embed_dim = embed_dim
        self.ema_decay = ema_decay
        self.dead_code_threshold = dead_code_threshold
        self.epsilon = epsilon
        self.restart_pool_size = restart_pool_size
        # Persistent state (checkpointed): steps since each code was last used, and the EMA statistics.
        self.register_buffer("steps_since_used", torch.zeros(num_embeddings, dtype=torch.long))
        if ema_decay is not None:
            # Cluster sizes start at 1 and sums at the initial codes, so an unused code keeps its vector under decay.
            self.register_buffer("ema_cluster_size", torch.ones(num_embeddings))
            self.register_buffer("ema_embed_sum", torch.zeros(num_embeddings, embed_dim))
            self.register_buffer("ema_initialized", torch.zeros((), dtype=torch.bool))
        # Per-step accumulators: plain attributes, not buffers, because DDP broadcasts rank 0's buffers at every
        # forward and would overwrite the other ranks' counts between gradient-accumulation micro-batches. A
        # checkpoint is written between steps, when they are empty.
        self._counts: torch.Tensor | None = None
        self._sums: torch.Tensor | None = None
        self._pool: torch.Tensor | None = None

    @property
    def enabled(self) -> bool:
        return self.ema_decay is not None or self.dead_code_threshold > 0

    @torch.no_grad()
    def observe(self, latents: torch.Tensor, codes: torch.Tensor) -> None:
        """Record one forward pass: `latents` `(N, embed_dim)` encoder outputs, `codes` `(N,)` their codes."""
        latents = latents.detach().float().reshape(-1, self.embed_dim)
        codes = codes.reshape(-1)
        if self._counts is None:
            self._counts = torch.zeros(self.num_embeddings, device=latents.device)
            self._sums = torch.zeros(self.num_embeddings, self.embed_dim, device=latents.device)
        self._counts += torch.bincount(codes, minlength=self.num_embeddings).to(self._counts)
        if self.ema_decay is not None:
            self._sums.index_add_(0, codes, latents)
        if self.dead_code_threshold > 0:
            pick = torch.randperm(latents.shape[0], device=latents.device)[: self.restart_pool_size]
            self._pool = latents[pick]

    @torch.no_grad()
    def step(self, codebook: torch.Tensor) -> dict:
        """Apply the step's EMA update and restarts to `codebook` (the embedding weight, changed in place).

        Returns `{"used": bool mask of the codes used in the step, "restarted": number of codes restarted}`, over all
        ranks.
        """
        if self._counts is None:  # no forward pass since the last step
            self._counts = torch.zeros(self.num_embeddings, device=codebook.device)
            self._sums = torch.zeros(self.num_embeddings, self.embed_dim, device=codebook.device)
        counts, sums = self._counts, self._sums
        if _distributed():
            dist.all_reduce(counts)
            if self.ema_decay is not None:
                dist.all_reduce(sums)
        used = counts > 0
        if self.ema_decay is not None:
            if not self.ema_initialized:
                self.ema_embed_sum.copy_(codebook.detach().float())
                self.ema_initialized.fill_(True)
            decay = self.ema_decay
            self.ema_cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
            total = self.ema_cluster_size.sum()
            smoothed = (self.ema_cluster_size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
            codebook.copy_((self.ema_embed_sum / smoothed.unsqueeze(1)).to(codebook.dtype))

        self.steps_since_used += 1
        self.steps_since_used[used] = 0
        restarted = 0
        if self.dead_code_threshold > 0:
            dead = (self.steps_since_used >= self.dead_code_threshold).nonzero().squeeze(1)
            restarted = int(dead.numel())
            if restarted:
                self._restart(codebook, dead)
        self._counts = self._sums = None
        return {"used": used, "restarted": restarted}

    def _restart(self, codebook: torch.Tensor, dead: torch.Tensor) -> None:
        if self._pool is None or self._pool.shape[0] == 0:
            return
        if not _distributed() or dist.get_rank() == 0:
            picks = torch.randint(self._pool.shape[0], (dead.numel(),), device=self._pool.device)
            vectors = self._pool[picks].to(codebook.device)
        else:
            vectors = torch.empty(dead.numel(), self.embed_dim, device=codebook.device)
        if _distributed():
            dist.broadcast(vectors, src=0)  # one choice for all ranks, so the codebooks stay identical
        codebook[dead] = vectors.to(codebook.dtype)
        self.steps_since_used[dead] = 0
        if self.ema_decay is not None:
            self.ema_cluster_size[dead] = 1.0
            self.ema_embed_sum[dead] = vectors.float()


__all__ = ["CodebookMaintenance"]
