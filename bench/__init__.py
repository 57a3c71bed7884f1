"""Benchmarks: speed measured as ratios against raw primitives in the same run."""
