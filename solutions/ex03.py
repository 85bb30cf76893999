"""Reference solutions to notebook 03's exercises."""

import torch.nn.functional as F


def max_pool2d_ceil(x, kernel_size, stride):
    k, s = kernel_size, stride

    def size(n):
        out = -(-(n - k) // s) + 1  # ceil((n - k) / s) + 1
        return out - 1 if (out - 1) * s >= n else out  # a window must start inside the input

    h, w = x.shape[2:]
    out = x.new_empty(*x.shape[:2], size(h), size(w))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].amax(dim=(2, 3))  # slices stop at the edge
    return out


def lp_pool_backward(x, grad_output, kernel_size, stride):
    k, s = kernel_size, stride
    out = F.lp_pool2d(x, 2, k, s)  # (N, C, H_out, W_out): sqrt of each window's sum of squares
    grad_input = x.new_zeros(x.shape)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k]
            share = (grad_output[:, :, i, j] / out[:, :, i, j])[:, :, None, None]  # (N, C, 1, 1)
            grad_input[:, :, i * s:i * s + k, j * s:j * s + k] += share * window  # d sqrt(sum x^2) / dx = x / out
    return grad_input


def adaptive_avg_pool_backward(grad_output, input_size):
    (h, w), (out_h, out_w) = input_size, grad_output.shape[2:]
    grad_input = grad_output.new_zeros(*grad_output.shape[:2], h, w)  # (N, C, H, W)
    for i in range(out_h):
        h0, h1 = (i * h) // out_h, -(-((i + 1) * h) // out_h)  # floor(i h / m), ceil((i + 1) h / m)
        for j in range(out_w):
            w0, w1 = (j * w) // out_w, -(-((j + 1) * w) // out_w)
            share = grad_output[:, :, i, j, None, None] / ((h1 - h0) * (w1 - w0))  # (N, C, 1, 1)
            grad_input[:, :, h0:h1, w0:w1] += share  # windows may overlap: shares add up
    return grad_input
