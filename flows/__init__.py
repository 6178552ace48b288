"""Prefect flows (composition of the tasks in `tasks/`) and the `digits` command line (`cli`)."""
