"""Models with made-up weights, for tests that need a model but not a trained one."""
from __future__ import annotations

import numpy as np

from nnmodel.model.dense import init_params
from nnmodel.model.mlp import MLP


def trained_like(hidden=(7,), seed=0, output="softmax") -> MLP:
    """An MLP whose weights are random but large enough to give confident, varied answers."""
    net = MLP(hidden_sizes=hidden, output=output, seed=seed)
    rng = np.random.default_rng(seed)
    net.params_ = [(W * 40, rng.normal(0, 0.5, b.shape).astype(np.float32))
                   for W, b in init_params(net.sizes, seed, np.float32)]
    return net
