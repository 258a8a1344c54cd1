"""Procedural satellite scenes: training windows and whole clips with ground truth."""
