"""Synthetic, realistic UK school data for demos, tests and benchmarks: not part of the
product's pipeline, used by ``dispatcher demo`` and ``dispatcher demo-data``."""
