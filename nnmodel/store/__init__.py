"""The artifact store: the folder layout, atomic writes, the model registry, training runs and the
feedback folder."""
