"""Getting pixels and labels in: video readers, SAT-MTB annotations, the ROS-SAM layout, augmentations, synthetic clips."""
