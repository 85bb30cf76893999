"""Reference solutions to notebook 05's exercises (NumPy only)."""

import numpy as np


def linear_backward(x, weight, grad_output):
    grad_input = grad_output @ weight  # (N, out) @ (out, in) -> (N, in)
    grad_weight = grad_output.T @ x  # (out, N) @ (N, in) -> (out, in)
    grad_bias = grad_output.sum(axis=0)  # (out,)
    return grad_input, grad_weight, grad_bias


def avg_pool_backward(grad_output, input_shape, kernel_size, stride):
    k, s = kernel_size, stride
    grad_input = np.zeros(input_shape, dtype=grad_output.dtype)
    _, _, ho, wo = grad_output.shape
    share = grad_output / (k * k)  # every input of a window gets an equal share
    for i in range(ho):
        for j in range(wo):
            grad_input[:, :, i * s:i * s + k, j * s:j * s + k] += share[:, :, i, j, None, None]
    return grad_input


which_gradient_is_wrong = "grad_input"


def fixed_conv_backward(x, weight, grad_output, padding=0):
    n, c, h, w = x.shape
    k = weight.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, Hp, Wp)
    hp, wp = xp.shape[2:]
    ho, wo = grad_output.shape[2:]

    grad_bias = grad_output.sum(axis=(0, 2, 3))

    grad_weight = np.zeros_like(weight)
    for u in range(k):
        for v in range(k):
            patch = xp[:, :, u:u + ho, v:v + wo]  # (N, C, H_out, W_out)
            grad_weight[:, :, u, v] = np.einsum("nfij,ncij->fc", grad_output, patch)

    g_full = np.pad(grad_output, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))  # (N, F, Hp+k-1, Wp+k-1)
    kernel = weight[:, :, ::-1, ::-1]  # the fix: rotate each kernel by 180 degrees
    grad_xp = np.zeros_like(xp)
    for u in range(k):
        for v in range(k):
            grad_xp += np.einsum("nfij,fc->ncij", g_full[:, :, u:u + hp, v:v + wp], kernel[:, :, u, v])
    grad_input = grad_xp[:, :, padding:padding + h, padding:padding + w]
    return grad_input, grad_weight, grad_bias
