"""garage's ``garage.experiment.deterministic``: ``set_seed(seed)`` and ``get_seed()``.

``set_seed`` takes the seed modulo 4294967294, remembers it for ``get_seed``, and seeds ``random``
and numpy; TensorFlow and torch only when the process has already imported them (torch then also
gets cuDNN's deterministic mode, with garage's warning about its cost on GPUs).
"""

from __future__ import annotations

import random
import sys
import warnings

seed_: int | None = None


def set_seed(seed: int) -> None:
    """Set the process-wide random seed."""
    global seed_
    seed %= 4294967294
    seed_ = seed
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].compat.v1.set_random_seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        warnings.warn(
            "Enabeling deterministic mode in PyTorch can have a performance impact when using GPU.",
            stacklevel=2,
        )
        torch.manual_seed(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def get_seed() -> int | None:
    """The seed of the last :func:`set_seed` in this process (None before)."""
    return seed_
