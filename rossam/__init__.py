"""ROS-SAM: Segment Anything with LoRA, an unfrozen last encoder block and an HQ decoder,
prompted with boxes on object-centred crops zoomed x2."""

from .build import EMBEDDED_WEIGHTS, build_rossam, rossam_model_registry
from .checkpoint import CheckpointError, load_checkpoint, save_rossam
from .lora import LoRAConfig, merge_lora, unmerge_lora
from .model import RosSam
from .predictor import BoxPredictor, Prediction, resolve_device
from .variants import VARIANTS, get_variant

__all__ = [
    "EMBEDDED_WEIGHTS", "VARIANTS", "BoxPredictor", "CheckpointError", "LoRAConfig", "Prediction",
    "RosSam", "build_rossam", "get_variant", "load_checkpoint", "merge_lora", "resolve_device",
    "rossam_model_registry", "save_rossam", "unmerge_lora",
]
