"""Benchmarks (see docs/benchmarks.md); shared helpers in :mod:`bench.common`."""
