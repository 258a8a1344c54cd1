"""Model variants: SAM's official shapes and the embedded ``tiny`` default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """Shapes of one ROS-SAM variant.

    ``window`` is ROS-SAM's crop side in frame pixels; the crop is zoomed to ``img_size``
    (x2 for every variant here).
    """

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    window_size: int = 14
    img_size: int = 1024
    patch_size: int = 16
    prompt_dim: int = 256
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    window: int = 512

    @property
    def early_block(self) -> int:
        """Index of the first global-attention block, whose output HQ-SAM fuses."""
        return self.global_attn_indexes[0]

    @property
    def embedding_size(self) -> int:
        return self.img_size // self.patch_size


VARIANTS: dict[str, Variant] = {
    "vit_b": Variant("vit_b", 768, 12, 12, (2, 5, 8, 11)),
    "vit_l": Variant("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": Variant("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    # The CPU default. Chosen from measurements on a 2-core machine (see README, "The tiny
    # variant"): a 128 px window zoomed x2 to 256, a 4-block encoder of width 192 and a decoder
    # of width 128 segment a 32-object 1024 x 1024 frame in well under a second, and the
    # weights stored as float16 stay under 10 MB.
    "tiny": Variant(
        "tiny",
        embed_dim=192,
        depth=4,
        num_heads=3,
        global_attn_indexes=(1, 3),
        window_size=8,
        img_size=256,
        prompt_dim=128,
        decoder_mlp_dim=1024,
        decoder_heads=8,
        window=128,
    ),
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(sorted(VARIANTS))
        raise ValueError(f"unknown variant {name!r}; known variants: {known}") from None
