"""Boxes through time: Kalman motion model, association, track lifecycle, moving-object
discovery. Knows nothing of the model: masks and scores come in as arrays."""

from .discovery import DiscoveryConfig, MotionDiscovery
from .kalman import KalmanBoxFilter
from .measure import GateConfig
from .state import TrackerState
from .tracker import CONFIRMED, LOST, TENTATIVE, MaskTracker, Prompts, TrackerConfig, TrackResult

__all__ = [
    "CONFIRMED", "LOST", "TENTATIVE", "DiscoveryConfig", "GateConfig", "KalmanBoxFilter", "MaskTracker",
    "MotionDiscovery", "Prompts", "TrackResult", "TrackerConfig", "TrackerState",
]
