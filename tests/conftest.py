import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def tiny_random():
    """A tiny model with random weights (no embedded weights), in eval mode."""
    from rossam import build_rossam

    torch.manual_seed(0)
    return build_rossam("tiny", None).eval()
