"""Helpers shared by tests, benchmarks and scripts: real processes, rendered files, pen strokes, data."""
