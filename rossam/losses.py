"""HQ-SAM's mask loss: BCE and dice on points sampled by uncertainty (as in Mask2Former)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def point_sample(inputs: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Sample [N, C, H, W] at normalised [N, P, 2] (x, y in 0..1) points -> [N, C, P]."""
    out = F.grid_sample(inputs, 2.0 * coords.unsqueeze(2) - 1.0, align_corners=False)
    return out.squeeze(3)


def uncertain_points(logits: torch.Tensor, num_points: int, oversample: float, importance: float) -> torch.Tensor:
    """Mostly points where the logit is near 0 (uncertain), the rest uniform. logits: [N, 1, h, w]."""
    n = logits.shape[0]
    sampled = int(num_points * oversample)
    coords = torch.rand(n, sampled, 2, device=logits.device)
    uncertainty = -point_sample(logits, coords).abs()[:, 0]
    n_imp = int(importance * num_points)
    idx = uncertainty.topk(n_imp, dim=1).indices
    picked = torch.gather(coords, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
    rand = torch.rand(n, num_points - n_imp, 2, device=logits.device)
    return torch.cat([picked, rand], dim=1)


def mask_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_points: int = 112 * 112,
    oversample: float = 3.0,
    importance: float = 0.75,
    pos_weight: float = 10.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE, dice) averaged over masks. logits [N, 1, h, w]; targets [N, 1, H, W] in {0, 1}."""
    with torch.no_grad():
        coords = uncertain_points(logits.float(), num_points, oversample, importance)
        labels = point_sample(targets.float(), coords)[:, 0]
    point_logits = point_sample(logits.float(), coords)[:, 0]
    weight = torch.tensor(pos_weight, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(point_logits, labels, pos_weight=weight, reduction="none").mean(1)
    p = point_logits.sigmoid()
    dice = 1 - (2 * (p * labels).sum(1) + 1) / (p.sum(1) + labels.sum(1) + 1)
    return bce.mean(), dice.mean()


def iou_of(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of thresholded logits (upsampled to the targets' size) with the targets, per mask."""
    up = F.interpolate(logits.float(), targets.shape[-2:], mode="bilinear", align_corners=False) > 0
    t = targets > 0.5
    inter = (up & t).flatten(1).sum(1).float()
    union = (up | t).flatten(1).sum(1).float().clamp(min=1)
    return inter / union
