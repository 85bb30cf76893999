"""Reference solutions to notebook 01's exercises."""

import torch
import torch.nn.functional as F


def separable_corr2d(x, column, row):
    along_rows = F.conv2d(x[None, None], row.reshape(1, 1, 1, -1))  # (1, 1, H, W - kW + 1)
    return F.conv2d(along_rows, column.reshape(1, 1, -1, 1))[0, 0]  # (H - kH + 1, W - kW + 1)


# The discrete Laplacian: weights sum to zero, and symmetric about the centre.
spot_detector = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def fit_conv(x, y, kernel_size):
    n, c_in = x.shape[:2]
    c_out = y.shape[1]
    cols = F.unfold(x, kernel_size)  # (N, C_in*k*k, L)
    a = cols.transpose(1, 2).reshape(-1, cols.shape[1])  # (N*L, C_in*k*k): one window per row
    a = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1)  # a column of ones for the bias
    b = y.flatten(2).transpose(1, 2).reshape(-1, c_out)  # (N*L, C_out)
    solution = torch.linalg.lstsq(a, b).solution  # (C_in*k*k + 1, C_out)
    weight = solution[:-1].T.reshape(c_out, c_in, kernel_size, kernel_size)
    return weight, solution[-1]


def conv_matrix(kernel, input_size):
    h, w = input_size
    kh, kw = kernel.shape
    out_h, out_w = h - kh + 1, w - kw + 1
    matrix = kernel.new_zeros(out_h * out_w, h * w)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    matrix[i * out_w + j, (i + a) * w + (j + b)] = kernel[a, b]
    return matrix
