"""Reference solutions to notebook 14's exercises."""

import math

import torch
import torch.nn.functional as F

from course_utils.attention import sinusoidal_positional_encoding


def patch_embedding_params(in_channels, patch_size, hidden_dim):
    return hidden_dim * in_channels * patch_size * patch_size + hidden_dim  # weight (D, C, P, P) and bias (D,)


def attention_share(num_tokens, hidden_dim, mlp_dim):
    n, d = num_tokens, hidden_dim
    linear = n * (4 * d * d + 2 * d * mlp_dim)  # Q, K, V, output projections and the two MLP layers
    attention = 2 * n * n * d  # scores (n x n, each a d-long dot product) and the weighted sum of values
    return attention / (attention + linear)


def sincos_2d(rows, cols, dim):
    row_table = sinusoidal_positional_encoding(rows, dim // 2)  # (rows, dim / 2)
    col_table = sinusoidal_positional_encoding(cols, dim // 2)  # (cols, dim / 2)
    return torch.cat([row_table.repeat_interleave(cols, dim=0), col_table.repeat(rows, 1)], dim=1)  # (rows*cols, dim)


def interpolate_positions(pos_embedding, new_side):
    cls, grid = pos_embedding[:, :1], pos_embedding[:, 1:]  # (1, 1, D), (1, N, D)
    side, dim = math.isqrt(grid.shape[1]), grid.shape[2]
    image = grid.reshape(1, side, side, dim).permute(0, 3, 1, 2)  # (1, D, side, side)
    image = F.interpolate(image, size=new_side, mode="bicubic", align_corners=True)  # (1, D, new, new)
    return torch.cat([cls, image.permute(0, 2, 3, 1).reshape(1, new_side * new_side, dim)], dim=1)
