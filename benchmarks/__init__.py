"""Batch scoring, speed measurements and baselines."""
