"""A stateless, vectorised constant-velocity Kalman filter over boxes (as ByteTrack's, with
boxmot's XYWH parametrisation).

State: ``[cx, cy, w, h, vcx, vcy, vw, vh]``. Width and height are separate (not ByteTrack's
aspect and height) because satellite objects are often long and thin in any direction: a train
or ship lying along x has a height of a few pixels, and noise scaled by height alone would
pin its x position. Here the x terms scale with the width and the y terms with the height.

The filter holds only matrices; the caller owns means [N, 8] and covariances [N, 8, 8], and
every operation runs over all tracks at once.
"""

from __future__ import annotations

import numpy as np

NDIM = 4


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def cxcywh_to_xyxy(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return np.stack([z[:, 0] - z[:, 2] / 2, z[:, 1] - z[:, 3] / 2, z[:, 0] + z[:, 2] / 2, z[:, 1] + z[:, 3] / 2], 1)


class KalmanBoxFilter:
    def __init__(self, std_weight_position: float = 1 / 20, std_weight_velocity: float = 1 / 160, dt: float = 1.0):
        self.std_pos = std_weight_position
        self.std_vel = std_weight_velocity
        self.F = np.eye(2 * NDIM)
        for i in range(NDIM):
            self.F[i, NDIM + i] = dt
        self.H = np.eye(NDIM, 2 * NDIM)

    def _scale(self, wh: np.ndarray) -> np.ndarray:
        """[N, 4] per-coordinate scale (w, h, w, h) from [N, 2] sizes, floored at 1 px."""
        wh = np.maximum(wh, 1.0)
        return np.concatenate([wh, wh], axis=1)

    def initiate(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = xyxy_to_cxcywh(boxes)
        n = len(z)
        mean = np.concatenate([z, np.zeros((n, NDIM))], axis=1)
        s = self._scale(z[:, 2:])
        std = np.concatenate([2 * self.std_pos * s, 10 * self.std_vel * s], axis=1)
        cov = np.zeros((n, 2 * NDIM, 2 * NDIM))
        idx = np.arange(2 * NDIM)
        cov[:, idx, idx] = std**2
        return mean, cov

    def process_noise(self, mean: np.ndarray) -> np.ndarray:
        s = self._scale(mean[:, 2:4])
        std = np.concatenate([self.std_pos * s, self.std_vel * s], axis=1)
        q = np.zeros((len(mean), 2 * NDIM, 2 * NDIM))
        idx = np.arange(2 * NDIM)
        q[:, idx, idx] = std**2
        return q

    def measurement_noise(self, mean: np.ndarray) -> np.ndarray:
        s = self._scale(mean[:, 2:4])
        r = np.zeros((len(mean), NDIM, NDIM))
        idx = np.arange(NDIM)
        r[:, idx, idx] = (self.std_pos * s) ** 2
        return r

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All tracks one step ahead (ByteTrack's ``multi_predict``)."""
        if len(mean) == 0:
            return mean.copy(), cov.copy()
        q = self.process_noise(mean)
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T + q
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean [N, 4] and covariance [N, 4, 4]."""
        return mean @ self.H.T, self.H @ cov @ self.H.T + self.measurement_noise(mean)

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct N tracks with N measurements ``z`` [N, 4] in cx, cy, w, h (Joseph form, as filterpy)."""
        if len(mean) == 0:
            return mean.copy(), cov.copy()
        r = self.measurement_noise(mean)
        s = self.H @ cov @ self.H.T + r
        pht = cov @ self.H.T  # [N, 8, 4]
        gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1 (S symmetric)
        innovation = np.asarray(z, np.float64) - mean @ self.H.T
        mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        i_kh = np.eye(2 * NDIM) - gain @ self.H
        cov = i_kh @ cov @ i_kh.transpose(0, 2, 1) + gain @ r @ gain.transpose(0, 2, 1)
        return mean, cov
