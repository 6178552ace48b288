"""The artifact store: the folder layout, the model registry, training runs and the feedback folder
(every write goes through `nnmodel.atomic`)."""
