"""Evaluation reports: metrics, evaluating a model on its data folder, and the report files."""
