"""The Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words").

An image becomes a sequence of tokens; notebook 13's Transformer encoder does
the rest. What is new for images lives here, nothing else:

* :func:`patchify` cuts ``(B, C, H, W)`` images into ``P x P`` patches
  flattened to ``C * P * P`` numbers; :class:`PatchEmbedding` maps each patch
  to ``hidden_dim`` numbers with one ``Conv2d`` whose kernel and stride are
  the patch size, which is the same as ``patchify`` followed by one linear
  map (the tests prove it);
* the class token, position embeddings (learned, as the paper; a fixed 2-D
  sinusoidal table, :func:`sincos_2d_position_embedding`; or none) and their
  resizing for another image size by 2-D interpolation
  (:func:`resize_position_embedding`, the paper's section 3.2);
* :class:`VisionTransformer`: patch embedding, class token and positions,
  the course's :class:`~course_utils.models.transformer.Encoder` with pre-LN
  layers and a GELU MLP (eqs. 1-4 of the paper), and a linear head on the
  class token (``pool="cls"``) or on the mean of the patch tokens
  (``pool="gap"``, the paper's appendix D.3);
* torchvision's weights: :func:`from_torchvision_state_dict`,
  :func:`from_torchvision`;
* factories: :func:`vit_b_16`, :func:`vit_b_32`, :func:`vit_l_16`,
  :func:`vit_l_32`, :func:`vit_h_14` (the paper's Table 1, torchvision's
  parameter counts) and :func:`vit_cifar` for 32x32 images.

Token shapes, stated once: tokens are ``(B, 1 + N, D)`` with the class token
first and the ``N = (H / P) * (W / P)`` patches after it in row-major order
(row by row, left to right); with ``pool="gap"`` there is no class token and
the tokens are ``(B, N, D)``. Names follow torchvision's ``VisionTransformer``
(``image_size``, ``patch_size``, ``num_layers``, ``num_heads``,
``hidden_dim``, ``mlp_dim``).
"""

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import sinusoidal_positional_encoding
from course_utils.models.common import check_image_input, rename_state_dict
from course_utils.models.transformer import Encoder
from course_utils.modes import eval_mode

POOLS = ("cls", "gap")
POSITIONS = ("learned", "sincos", "none")


# ---------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------


def _check_divisible(height, width, patch_size, what="the image"):
    if height % patch_size or width % patch_size:
        fit = f"{height - height % patch_size}x{width - width % patch_size}"
        raise ValueError(
            f"{what} ({height}x{width} pixels) is not divisible into {patch_size}x{patch_size} patches: height and "
            f"width must be multiples of patch_size={patch_size} (crop or resize to e.g. {fit} pixels, or choose "
            "a patch size that divides them)")


def patchify(images, patch_size):
    """``(B, C, H, W)`` -> ``(B, N, C * P * P)``: the ``P x P`` patches in row-major order, each
    flattened channel by channel (the order of a ``Conv2d`` weight's ``(C, P, P)`` dimensions)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"patchify expects images (B, C, H, W), got {got}")
    b, c, h, w = images.shape
    _check_divisible(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, rows, P, cols, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P)
    return x.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C * P * P)


class PatchEmbedding(nn.Module):
    """Patches to tokens: ``(B, C, H, W)`` -> ``(B, N, hidden_dim)`` (the paper's eq. 1, ``x_p E``).

    A ``Conv2d`` with ``kernel_size = stride = patch_size`` visits each patch
    once and multiplies it by the same ``(hidden_dim, C * P * P)`` matrix: the
    linear map ``E`` of the paper, computed without copying the patches out.
    """

    def __init__(self, in_channels, patch_size, hidden_dim):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)  # (B, D, rows, cols)
        return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D), row-major


# ---------------------------------------------------------------------------
# Position embeddings
# ---------------------------------------------------------------------------


def _pair(grid, what="grid"):
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if not (isinstance(rows, int) and isinstance(cols, int)) or rows < 1 or cols < 1:
        raise ValueError(f"{what} must be a positive int or a (rows, cols) pair of them, got {grid!r}")
    return rows, cols


def sincos_2d_position_embedding(grid, hidden_dim, base=10000.0, dtype=torch.float32):
    """A fixed 2-D position table ``(rows * cols, hidden_dim)``, patches in row-major order.

    The first half of each vector is notebook 12's 1-D sinusoidal encoding
    (``course_utils.attention.sinusoidal_positional_encoding``) of the patch's
    row, the second half that of its column, so ``hidden_dim`` must be a
    multiple of 4. Two patches in the same row share the first half, in the
    same column the second: the table knows the grid before any training.
    """
    rows, cols = _pair(grid)
    if hidden_dim % 4:
        raise ValueError(f"a 2-D sinusoidal table gives half of hidden_dim to the row and half to the column, each "
                         f"as (sin, cos) pairs: hidden_dim must be a multiple of 4, got {hidden_dim}")
    row_table = sinusoidal_positional_encoding(rows, hidden_dim // 2, base, dtype)  # (rows, D/2)
    col_table = sinusoidal_positional_encoding(cols, hidden_dim // 2, base, dtype)  # (cols, D/2)
    row_part = row_table[:, None, :].expand(rows, cols, hidden_dim // 2)  # (rows, cols, D/2)
    col_part = col_table[None, :, :].expand(rows, cols, hidden_dim // 2)  # (rows, cols, D/2)
    return torch.cat([row_part, col_part], dim=-1).reshape(rows * cols, hidden_dim)  # (N, D)


def resize_position_embedding(pos_embedding, new_grid, old_grid=None, num_prefix_tokens=1, mode="bicubic",
                              align_corners=False):
    """Interpolate learned position embeddings to another grid of patches (the paper's section 3.2).

    Fine-tuning at a higher resolution with the same patch size gives more
    patches than the embeddings were trained for. The patch embeddings are
    laid out on their 2-D grid and resized like an image with ``hidden_dim``
    channels; the class token's embedding (the first ``num_prefix_tokens``)
    is kept as it is.

    Args:
        pos_embedding: ``(1, num_prefix_tokens + rows * cols, D)``.
        new_grid: the new ``rows x cols`` (an int for a square grid).
        old_grid: the old grid; by default the square root of the number of patches.
        num_prefix_tokens: tokens before the patches (1 for the class token, 0 without).
        mode, align_corners: as ``F.interpolate`` (torchvision's
            ``interpolate_embeddings`` uses ``"bicubic"`` with ``align_corners=True``).

    Returns:
        ``(1, num_prefix_tokens + new_rows * new_cols, D)``.
    """
    if not isinstance(pos_embedding, torch.Tensor) or pos_embedding.ndim != 3 or pos_embedding.shape[0] != 1:
        got = tuple(pos_embedding.shape) if isinstance(pos_embedding, torch.Tensor) else type(pos_embedding).__name__
        raise ValueError(f"pos_embedding must be (1, tokens, hidden_dim), got {got}")
    num_patches = pos_embedding.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = math.isqrt(max(num_patches, 0))
        if side * side != num_patches or side == 0:
            raise ValueError(f"{num_patches} patch positions (after {num_prefix_tokens} prefix token(s)) are not a "
                             "square grid: pass old_grid=(rows, cols)")
        old_grid = side
    old_rows, old_cols = _pair(old_grid, "old_grid")
    new_rows, new_cols = _pair(new_grid, "new_grid")
    if old_rows * old_cols != num_patches:
        raise ValueError(f"old_grid {old_rows}x{old_cols} has {old_rows * old_cols} patches, but pos_embedding "
                         f"holds {num_patches} after {num_prefix_tokens} prefix token(s)")
    prefix, patches = pos_embedding[:, :num_prefix_tokens], pos_embedding[:, num_prefix_tokens:]
    dim = pos_embedding.shape[-1]
    grid = patches.reshape(1, old_rows, old_cols, dim).permute(0, 3, 1, 2)  # (1, D, rows, cols): an image
    resized = F.interpolate(grid, size=(new_rows, new_cols), mode=mode, align_corners=align_corners)
    resized = resized.permute(0, 2, 3, 1).reshape(1, new_rows * new_cols, dim)  # (1, new N, D), row-major
    return torch.cat([prefix, resized], dim=1)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ViTConfig:
    """Sizes of a :class:`VisionTransformer` (defaults: ViT-B/16 at 224 px, the paper's Table 1).

    Attributes:
        image_size: side of the square images the position embeddings cover.
        patch_size: side ``P`` of the square patches; must divide ``image_size``.
        num_layers, num_heads, hidden_dim, mlp_dim: encoder depth, heads, token
            width ``D`` and the MLP's hidden width.
        num_classes: outputs of the head.
        in_channels: channels of the images.
        dropout: dropout after the position embeddings and in every encoder
            layer (on the attention weights too, as ``nn.TransformerEncoderLayer``).
        pool: ``"cls"`` (a class token, the paper) or ``"gap"`` (the mean of
            the patch tokens, no class token).
        position: ``"learned"`` (the paper), ``"sincos"`` (a fixed 2-D
            sinusoidal table) or ``"none"`` (a bag of patches).
        layer_norm_eps: 1e-6, as the paper's code and torchvision.
    """

    image_size: int = 224
    patch_size: int = 16
    num_layers: int = 12
    num_heads: int = 12
    hidden_dim: int = 768
    mlp_dim: int = 3072
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.0
    pool: str = "cls"
    position: str = "learned"
    layer_norm_eps: float = 1e-6

    def __post_init__(self):
        for name in ("image_size", "patch_size", "num_layers", "num_heads", "hidden_dim", "mlp_dim", "num_classes",
                     "in_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            lower = self.image_size - self.image_size % self.patch_size
            raise ValueError(f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}: the "
                             f"image must split into whole patches (e.g. image_size={lower} or "
                             f"{lower + self.patch_size})")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}: each "
                             "head gets hidden_dim // num_heads features")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {self.position!r}")
        if self.position == "sincos" and self.hidden_dim % 4:
            raise ValueError(f"position='sincos' needs hidden_dim divisible by 4, got {self.hidden_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def grid(self):
        """``(rows, cols)`` of patches at ``image_size``."""
        side = self.image_size // self.patch_size
        return side, side

    @property
    def num_patches(self):
        return self.grid[0] * self.grid[1]

    @property
    def num_tokens(self):
        """Tokens the encoder sees: the patches, and the class token with ``pool="cls"``."""
        return self.num_patches + (self.pool == "cls")


class VisionTransformer(nn.Module):
    """The Vision Transformer (the paper's Figure 1 and eqs. 1-4).

    ``forward(images (B, C, H, W)) -> logits (B, num_classes)``:

    1. :class:`PatchEmbedding`: ``(B, N, D)`` patch tokens;
    2. the class token in front (``pool="cls"``): ``(B, 1 + N, D)``;
    3. plus the position embeddings, then dropout;
    4. ``num_layers`` pre-LN encoder layers (``x + MSA(LN(x))``, ``x + MLP(LN(x))``,
       GELU MLP) and a final layer norm: the course's ``Encoder``;
    5. the class token's output (or the mean of the tokens) -> a linear head.

    Initialisation as torchvision's (and the paper's code): patch projection
    truncated normal with std ``1 / sqrt(C * P * P)``, position embeddings
    normal with std 0.02, class token and head zero, MLP weights
    Xavier-uniform with tiny biases.
    """

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        self.patch_embed = PatchEmbedding(c.in_channels, c.patch_size, c.hidden_dim)
        self.class_token = nn.Parameter(torch.zeros(1, 1, c.hidden_dim)) if c.pool == "cls" else None
        if c.position == "learned":
            self.pos_embedding = nn.Parameter(torch.empty(1, c.num_tokens, c.hidden_dim))
        else:
            self.register_parameter("pos_embedding", None)
        sincos = self._sincos_table(c) if c.position == "sincos" else None
        self.register_buffer("sincos_table", sincos, persistent=False)  # fixed: not in the state dict
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = Encoder(c.num_layers, c.hidden_dim, c.num_heads, c.mlp_dim, c.dropout, norm_first=True,
                               layer_norm_eps=c.layer_norm_eps, activation="gelu")
        self.head = nn.Linear(c.hidden_dim, c.num_classes)
        self.reset_parameters()

    @staticmethod
    def _sincos_table(c):
        table = sincos_2d_position_embedding(c.grid, c.hidden_dim)  # (N, D)
        if c.pool == "cls":
            table = torch.cat([torch.zeros(1, c.hidden_dim), table])  # the class token has no position
        return table[None]  # (1, tokens, D)

    def reset_parameters(self):
        proj = self.patch_embed.proj
        fan_in = proj.in_channels * proj.kernel_size[0] * proj.kernel_size[1]
        nn.init.trunc_normal_(proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(proj.bias)
        if self.class_token is not None:
            nn.init.zeros_(self.class_token)
        if self.pos_embedding is not None:
            nn.init.normal_(self.pos_embedding, std=0.02)  # from BERT
        for layer in self.encoder.layers:
            layer.self_attn.reset_parameters()
            for linear in (layer.linear1, layer.linear2):
                nn.init.xavier_uniform_(linear.weight)
                nn.init.normal_(linear.bias, std=1e-6)
        nn.init.zeros_(self.head.weight)  # the paper's zero-initialised head (section 3.2)
        nn.init.zeros_(self.head.bias)

    # -- tokens -----------------------------------------------------------------------------------

    def _check_images(self, x):
        c = self.config
        check_image_input(x, c.in_channels, name="VisionTransformer")
        height, width = x.shape[-2:]
        _check_divisible(height, width, c.patch_size, "the input")
        grid = (height // c.patch_size, width // c.patch_size)
        if c.position != "none" and grid != c.grid:
            side = height if height == width else f"{height}x{width}"
            hint = (f"call model.resize_positions({height}) first (2-D interpolation of the learned embeddings, "
                    "as for fine-tuning at another resolution)" if height == width else
                    f"use square images (the embeddings are resized for square ones), e.g. "
                    f"{c.image_size}x{c.image_size}")
            raise ValueError(
                f"the position embeddings cover a {c.grid[0]}x{c.grid[1]} grid of patches ({c.image_size} px images "
                f"at patch_size={c.patch_size}), but the input of {side} px has a {grid[0]}x{grid[1]} grid: {hint}")

    def tokens(self, x):
        """Images ``(B, C, H, W)`` -> the encoder's input ``(B, tokens, D)`` (class token first)."""
        self._check_images(x)
        x = self.patch_embed(x)  # (B, N, D)
        if self.class_token is not None:
            x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + N, D)
        if self.pos_embedding is not None:
            x = x + self.pos_embedding  # (1, tokens, D) broadcast over the batch
        elif self.sincos_table is not None:
            x = x + self.sincos_table.to(x.dtype)
        return self.dropout(x)

    def _pool(self, x):
        return x[:, 0] if self.config.pool == "cls" else x.mean(dim=1)  # (B, tokens, D) -> (B, D)

    def forward(self, x):
        x, _ = self.encoder(self.tokens(x))  # (B, tokens, D), after the final layer norm
        return self.head(self._pool(x))  # (B, num_classes)

    def features(self, x):
        """The ``(B, D)`` image representation the head reads (``y`` of the paper's eq. 4)."""
        x, _ = self.encoder(self.tokens(x))
        return self._pool(x)

    @torch.no_grad()
    def attention_maps(self, x):
        """The attention weights of every layer for images ``x``, in eval mode: a list of
        ``(B, num_heads, tokens, tokens)``, rows are queries (class token first)."""
        with eval_mode(self):
            _, weights = self.encoder(self.tokens(x), need_weights=True)
        return weights

    # -- another image size -----------------------------------------------------------------------

    def resize_positions(self, image_size, mode="bicubic", align_corners=False):
        """Adapt the model to ``image_size`` px images with the same patch size: learned
        embeddings are interpolated on their 2-D grid (:func:`resize_position_embedding`),
        a sinusoidal table is recomputed. Returns the model, with its ``config`` updated."""
        new = replace(self.config, image_size=image_size)  # checks the size against the patch size
        if self.pos_embedding is not None:
            resized = resize_position_embedding(self.pos_embedding.detach(), new.grid, self.config.grid,
                                                num_prefix_tokens=int(new.pool == "cls"), mode=mode,
                                                align_corners=align_corners)
            self.pos_embedding = nn.Parameter(resized)
        elif self.sincos_table is not None:
            self.sincos_table = self._sincos_table(new).to(self.sincos_table.device)
        self.config = new
        return self


# ---------------------------------------------------------------------------
# torchvision's weights
# ---------------------------------------------------------------------------

_TORCHVISION_RENAMES = (
    (r"^conv_proj\.", "patch_embed.proj."),
    (r"^class_token$", "class_token"),
    (r"^encoder\.pos_embedding$", "pos_embedding"),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.", r"encoder.layers.\1.norm1."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.", r"encoder.layers.\1.norm2."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.", r"encoder.layers.\1.self_attn."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(?:0|linear_1)\.", r"encoder.layers.\1.linear1."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(?:3|linear_2)\.", r"encoder.layers.\1.linear2."),
    (r"^encoder\.ln\.", "encoder.norm."),
    (r"^heads\.head\.", "head."),
)


def from_torchvision_state_dict(state_dict):
    """Rename the keys of a torchvision ``VisionTransformer``'s state dict to this module's
    (``encoder.layers.encoder_layer_3.mlp.0.weight`` -> ``encoder.layers.3.linear1.weight``).

    Load the result into the :class:`VisionTransformer` of the same sizes
    (``pool="cls"``, ``position="learned"``). The attention weights need no
    change: the course's ``MultiheadAttention`` has ``nn.MultiheadAttention``'s
    names and shapes.
    """
    if any(key.startswith("heads.pre_logits") for key in state_dict):
        raise ValueError("this torchvision model has a pre-logits layer (representation_size): the course's "
                         "VisionTransformer has a single linear head, as the paper when fine-tuning")
    return rename_state_dict(state_dict, _TORCHVISION_RENAMES, "is not a key of a torchvision "
                             "VisionTransformer state dict (a conv stem is not supported)")


def config_of_torchvision(model, **overrides):
    """The :class:`ViTConfig` of a torchvision ``VisionTransformer`` instance."""
    first = model.encoder.layers[0]
    sizes = dict(image_size=model.image_size, patch_size=model.patch_size, num_layers=len(model.encoder.layers),
                 num_heads=first.num_heads, hidden_dim=model.hidden_dim, mlp_dim=model.mlp_dim,
                 num_classes=model.num_classes, in_channels=model.conv_proj.in_channels,
                 layer_norm_eps=first.ln_1.eps)
    return ViTConfig(**{**sizes, **overrides})


def from_torchvision(model):
    """A :class:`VisionTransformer` with the sizes and weights of a torchvision ``VisionTransformer``
    (same device and dtype; dropout off: call ``.train()`` on a copy meant for training)."""
    param = next(model.parameters())
    ours = VisionTransformer(config_of_torchvision(model)).to(device=param.device, dtype=param.dtype)
    ours.load_state_dict(from_torchvision_state_dict(model.state_dict()))
    return ours


# ---------------------------------------------------------------------------
# Factories
# ---------------------------------------------------------------------------


def vision_transformer(**kwargs):
    """A :class:`VisionTransformer` of :class:`ViTConfig` ``(**kwargs)``."""
    return VisionTransformer(ViTConfig(**kwargs))


def vit_b_16(num_classes=1000, **kwargs):
    """ViT-B/16 (the paper's Table 1, "86M"; 86,567,656 parameters at 224 px, 1000 classes, as torchvision).

    Args:
        num_classes: outputs of the head.
        **kwargs: any other :class:`ViTConfig` field (``image_size``, ``dropout``, ...).
    """
    return vision_transformer(**{**dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
                                 "num_classes": num_classes, **kwargs})


def vit_b_32(num_classes=1000, **kwargs):
    """ViT-B/32 (88,224,232 parameters at 224 px: fewer, larger patches, a larger patch projection).

    Args as :func:`vit_b_16`."""
    return vit_b_16(num_classes, **{"patch_size": 32, **kwargs})


def vit_l_16(num_classes=1000, **kwargs):
    """ViT-L/16 (Table 1, "307M"; 304,326,632 parameters at 224 px, as torchvision). Args as :func:`vit_b_16`."""
    return vision_transformer(**{**dict(patch_size=16, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096),
                                 "num_classes": num_classes, **kwargs})


def vit_l_32(num_classes=1000, **kwargs):
    """ViT-L/32 (306,535,400 parameters at 224 px). Args as :func:`vit_b_16`."""
    return vit_l_16(num_classes, **{"patch_size": 32, **kwargs})


def vit_h_14(num_classes=1000, **kwargs):
    """ViT-H/14 (Table 1, "632M"; 632,045,800 parameters at 224 px). Args as :func:`vit_b_16`."""
    return vision_transformer(**{**dict(patch_size=14, num_layers=32, num_heads=16, hidden_dim=1280, mlp_dim=5120),
                                 "num_classes": num_classes, **kwargs})


def vit_cifar(num_classes=10, *, patch_size=4, num_layers=4, num_heads=4, hidden_dim=96, mlp_dim=192, **kwargs):
    """A small ViT for 32x32 images (notebook 14): patch 4 gives an 8x8 grid, 64 patch tokens
    and the class token; 4 layers of width 96, 4 heads, MLP 192 (311,338 parameters at 10 classes).

    Args:
        num_classes: outputs of the head.
        patch_size: 2, 4 or 8 (256, 64 or 16 patches).
        num_layers, num_heads, hidden_dim, mlp_dim: the encoder's sizes.
        **kwargs: any other :class:`ViTConfig` field (``pool``, ``position``, ``dropout``, ...).
    """
    return vision_transformer(**{**dict(image_size=32, patch_size=patch_size, num_layers=num_layers,
                                        num_heads=num_heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim),
                                 "num_classes": num_classes, **kwargs})
