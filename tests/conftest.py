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


@pytest.fixture(scope="session")
def frames_with_a_broken_one():
    """``make(video, folder, frames, broken)``: the video's first ``frames`` frames as a
    numbered PNG folder under ``folder``, frame ``broken`` unreadable; returns the folder."""

    def make(video, folder, frames: int, broken: int):
        import cv2

        img_dir = folder / "seq" / "img"
        img_dir.mkdir(parents=True)
        cap = cv2.VideoCapture(str(video))
        for n in range(1, frames + 1):
            ok, img = cap.read()
            assert ok, f"{video} has fewer than {frames} frames"
            cv2.imwrite(str(img_dir / f"{n:06d}.png"), img)
        (img_dir / f"{broken:06d}.png").write_bytes(b"broken")
        return folder / "seq"

    return make
