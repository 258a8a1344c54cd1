"""Getting pixels and labels in: video readers, SAT-MTB annotations, the ROS-SAM layout,
augmentations, synthetic clips."""

# OpenCV must be loaded before decord: decord's wheel bundles an old zlib that, loaded first,
# breaks OpenCV's PNG codec ("libpng error: bad parameters to zlib").
import cv2  # noqa: F401
