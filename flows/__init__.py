"""Prefect flows: the training, evaluation, data and batch-prediction flows, each composing the tasks in `tasks/`."""
