"""Checkers for notebook 14 (the Vision Transformer).

Each checker compares the answer with an independent oracle: a module whose
parameters are counted, PyTorch's FLOP counter on a real encoder layer, the
course's reference table, torchvision's own interpolation. The hints come in
three tiers: a nudge, the key idea, the recipe.
"""

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.vision_transformer import interpolate_embeddings

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function
from course_utils.models import transformer as tr
from course_utils.models import vit
from course_utils.modes import eval_mode

# ---------------------------------------------------------------------------
# 1. The parameters of a patch embedding
# ---------------------------------------------------------------------------


@checker(hint=(
    "The patch embedding is a single layer: which one, and what are the shapes of its weight and its bias?",
    "It maps every flattened patch (how many numbers does one patch hold, over all its channels?) to hidden_dim "
    "numbers with one weight matrix, and adds one bias per output.",
    "hidden_dim * (in_channels * patch_size ** 2) weights plus hidden_dim biases: "
    "hidden_dim * in_channels * patch_size * patch_size + hidden_dim.",
))
def check_patch_embedding_params(patch_embedding_params):
    """``patch_embedding_params(in_channels, patch_size, hidden_dim)``: the parameters of the patch embedding."""
    for in_channels, patch_size, hidden_dim in [(3, 16, 768), (3, 4, 96), (1, 7, 10), (3, 32, 1024), (4, 2, 6)]:
        expected = count_params(vit.PatchEmbedding(in_channels, patch_size, hidden_dim))
        got = as_int(patch_embedding_params(in_channels, patch_size, hidden_dim),
                     f"patch_embedding_params({in_channels}, {patch_size}, {hidden_dim})")
        if got == expected:
            continue
        slips = {
            expected - hidden_dim: "Your count has no bias.",
            hidden_dim * in_channels * patch_size + hidden_dim: "A patch is square: it holds patch_size x "
                                                                "patch_size pixels per channel.",
            hidden_dim * patch_size ** 2 + hidden_dim: "Every pixel of a patch has in_channels numbers.",
        }
        raise ExerciseError(f"{in_channels} channels, {patch_size}x{patch_size} patches, hidden_dim={hidden_dim}: "
                            f"expected {expected:,} parameters (counted on vit.PatchEmbedding), got {got:,}. "
                            + slips.get(got, "Count the weight and the bias of the layer by hand."))


# ---------------------------------------------------------------------------
# 2. Attention's share of the cost
# ---------------------------------------------------------------------------


def _attention_share_oracle(num_tokens, hidden_dim, mlp_dim):
    """PyTorch's FLOP counter on one pre-LN GELU encoder layer, attention on the math kernel
    (whose batched products it sees): the share of the batched products (scores and weighted sum)."""
    heads = next(h for h in (4, 2, 1) if hidden_dim % h == 0)
    layer = tr.EncoderLayer(hidden_dim, heads, mlp_dim, dropout=0.0, norm_first=True, activation="gelu")
    x = torch.zeros(1, num_tokens, hidden_dim)
    with eval_mode(layer), torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        layer(x)
    by_op = {str(op): flops for op, flops in counter.get_flop_counts()["Global"].items()}
    batched = sum(flops for op, flops in by_op.items() if "bmm" in op or "baddbmm" in op)
    return batched / counter.get_total_flops()


@checker(hint=(
    "Count the multiply-adds of one encoder layer: which products grow with the number of tokens n, and which "
    "with n times n?",
    "The four projections (queries, keys, values, output) and the two MLP layers cost n times a function of "
    "the widths each; the scores (queries times keys) and the weighted sum of the values each cost n * n * "
    "hidden_dim, however many heads share them.",
    "linear = n * (4 * D * D + 2 * D * mlp_dim); attention = 2 * n * n * D; return attention / (attention + "
    "linear), with D = hidden_dim and n = num_tokens.",
))
def check_attention_share(attention_share):
    """``attention_share(num_tokens, hidden_dim, mlp_dim)``: the fraction of an encoder layer's
    multiply-adds spent in the two products of attention that grow with the square of the tokens."""
    for n, d, mlp in [(65, 96, 192), (197, 768, 3072), (577, 768, 3072), (257, 96, 192), (5, 8, 16)]:
        expected = _attention_share_oracle(n, d, mlp)
        got = attention_share(n, d, mlp)
        if got is None:
            raise NotAttempted()
        got = float(got)
        what = f"attention_share({n}, {d}, {mlp})"
        if abs(got - expected) > 1e-6:
            half = abs(got - expected / (2 - expected)) < 1e-6  # only one of the two products counted
            why = (" You counted one of attention's two products; the weighted sum of the values costs as "
                   "much as the scores." if half else "")
            raise ExerciseError(f"{what}: PyTorch's FLOP counter gives {expected:.6f}, you gave {got:.6f}.{why}")


# ---------------------------------------------------------------------------
# 3. 2-D sinusoidal position embeddings
# ---------------------------------------------------------------------------


@checker(hint=(
    "A patch has two coordinates, its row and its column: how could notebook 12's 1-D table give a vector "
    "for each of them, and how do you combine the two into one vector of size dim?",
    "Encode the row with the 1-D sinusoidal table of width dim / 2 and the column with the same table, and "
    "concatenate the two halves, row first; patches come row by row.",
    "rows_table = sinusoidal_positional_encoding(rows, dim // 2); cols_table = sinusoidal_positional_encoding("
    "cols, dim // 2); out[r * cols + c] = cat([rows_table[r], cols_table[c]]).",
))
def check_sincos_2d(sincos_2d):
    """``sincos_2d(rows, cols, dim)`` -> ``(rows * cols, dim)``: patches in row-major order, the row's
    1-D encoding in the first half of each vector, the column's in the second."""
    for rows, cols, dim in [(4, 4, 16), (3, 5, 8), (8, 8, 96), (2, 7, 12)]:
        got = sincos_2d(rows, cols, dim)
        if got is None:
            raise NotAttempted()
        got = torch.as_tensor(got, dtype=torch.float32)
        expected = vit.sincos_2d_position_embedding((rows, cols), dim)
        what = f"sincos_2d({rows}, {cols}, {dim})"
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"{what} should have shape {tuple(expected.shape)} (one row per patch), got "
                                f"{tuple(got.shape)}")
        swapped = torch.cat([expected[:, dim // 2:], expected[:, :dim // 2]], dim=1)
        if torch.allclose(got, swapped, atol=1e-5):
            raise ExerciseError(f"{what}: the halves are swapped (or, on a square grid, the patches are in "
                                "column-major order): the row's encoding comes first, and the patches row by row")
        expect(got, expected, what, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# 4. Interpolating learned position embeddings
# ---------------------------------------------------------------------------


@checker(hint=(
    "The embeddings of the patches were learned on a square grid of positions: what kind of object is a grid "
    "of hidden_dim-long vectors, and what would you do to make that object bigger? What about the class token?",
    "Lay the patch embeddings out as an image with hidden_dim channels on the old grid, resize it to the new "
    "grid as you would resize an image (bicubic, corners aligned, as torchvision), flatten it back in row-major "
    "order, and put the class token's embedding, unchanged, in front.",
    "cls, grid = pos[:, :1], pos[:, 1:]; side = isqrt(grid.shape[1]); image = grid.reshape(1, side, side, D)"
    ".permute(0, 3, 1, 2); image = F.interpolate(image, size=new_side, mode='bicubic', align_corners=True); "
    "return cat([cls, image.permute(0, 2, 3, 1).reshape(1, new_side ** 2, D)], dim=1).",
))
def check_interpolate_positions(interpolate_positions):
    """``interpolate_positions(pos_embedding (1, 1 + side**2, D), new_side)`` -> ``(1, 1 + new_side**2, D)``,
    as torchvision's ``interpolate_embeddings`` (bicubic, ``align_corners=True``)."""
    gen = torch.Generator().manual_seed(14)
    for side, new_side, dim in [(4, 8, 6), (14, 24, 16), (8, 4, 5), (3, 3, 4)]:
        pos = torch.randn(1, 1 + side * side, dim, generator=gen)
        expected = interpolate_embeddings(new_side * 16, 16, {"encoder.pos_embedding": pos.clone()})[
            "encoder.pos_embedding"]
        got = interpolate_positions(pos.clone(), new_side)
        if got is None:
            raise NotAttempted()
        what = f"a {side}x{side} grid of {dim}-dimensional embeddings resized to {new_side}x{new_side}"
        got = torch.as_tensor(got)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"{what}: expected shape {tuple(expected.shape)} (the class token, then "
                                f"{new_side}x{new_side} patches), got {tuple(got.shape)}")
        if not torch.equal(got[0, 0], pos[0, 0]):
            raise ExerciseError(f"{what}: the class token's embedding changed; it has no place on the grid")
        side_by_side = F.interpolate(pos[:, 1:].reshape(1, dim, side, side), size=new_side, mode="bicubic",
                                     align_corners=True).reshape(1, dim, -1).transpose(1, 2)
        if side != new_side and torch.allclose(got[:, 1:], side_by_side, atol=1e-5):
            raise ExerciseError(f"{what}: the grid was read with the features first; the embeddings are (tokens, "
                                "D): put the token dimension on the grid and the features in the channels")
        expect(got, expected, what, rtol=1e-4, atol=1e-5)


hint = hint_function(__name__)
