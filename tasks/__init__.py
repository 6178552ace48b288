"""Prefect tasks: each a thin wrapper of one plain `nnmodel` call; paths in, paths out."""
