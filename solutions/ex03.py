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
