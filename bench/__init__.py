"""Canary benchmarks: measured against a bare-Temporal floor in the same run."""
