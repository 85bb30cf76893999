"""Reference solutions to notebook 03's exercises."""

import torch.nn.functional as F


def max_pool2d(x, kernel_size, stride, padding):
    k, s, p = kernel_size, stride, padding
    xp = F.pad(x, (p, p, p, p), value=float("-inf"))  # (N, C, H + 2p, W + 2p)
    out_h, out_w = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    out = x.new_empty(*x.shape[:2], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = xp[:, :, i * s:i * s + k, j * s:j * s + k].amax(dim=(2, 3))
    return out


def avg_pool_backward(grad_output, input_size, kernel_size, stride):
    k, s = kernel_size, stride
    n, c, out_h, out_w = grad_output.shape
    grad_input = grad_output.new_zeros(n, c, *input_size)
    for i in range(out_h):
        for j in range(out_w):
            grad_input[:, :, i * s:i * s + k, j * s:j * s + k] += grad_output[:, :, i, j, None, None] / (k * k)
    return grad_input


def max_pool_backward(x, grad_output, kernel_size, stride):
    k, s = kernel_size, stride
    n, c, out_h, out_w = grad_output.shape
    grad_input = x.new_zeros(x.shape)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)  # (N, C, k*k)
            idx = window.argmax(dim=2)  # (N, C): where the maximum is, row-major in the window
            for b in range(n):
                for ch in range(c):
                    r, col = divmod(int(idx[b, ch]), k)
                    grad_input[b, ch, i * s + r, j * s + col] += grad_output[b, ch, i, j]
    return grad_input
