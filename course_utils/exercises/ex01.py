"""Checkers for notebook 01 (convolution)."""

import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect


def _call(fn, *args):
    out = fn(*args)
    if out is None:
        raise NotAttempted()
    if not isinstance(out, torch.Tensor):
        raise ExerciseError(f"expected a tensor, got {type(out).__name__}")
    return out


@checker(hint="Loop over the output channels: output channel o is corr2d_multi_in(x, kernel[o]), i.e. the sum "
              "over input channels c of the 2-D cross-correlation of x[c] with kernel[o, c]. Stack the results.")
def check_corr2d_multi_in_out(corr2d_multi_in_out):
    """``corr2d_multi_in_out(x, kernel)``: ``(C_in, H, W)``, ``(C_out, C_in, kH, kW)`` -> ``(C_out, H', W')``."""
    gen = torch.Generator().manual_seed(1)
    for c_in, c_out, h, w, kh, kw in [(1, 1, 5, 5, 2, 2), (3, 2, 6, 7, 3, 2), (2, 4, 5, 8, 1, 3), (4, 3, 7, 6, 3, 3)]:
        x = torch.randn(c_in, h, w, generator=gen, dtype=torch.float64)
        k = torch.randn(c_out, c_in, kh, kw, generator=gen, dtype=torch.float64)
        expect(_call(corr2d_multi_in_out, x, k), F.conv2d(x[None], k)[0],
               f"corr2d_multi_in_out(x of shape {tuple(x.shape)}, kernel of shape {tuple(k.shape)})")


@checker(hint="A 1x1 convolution mixes channels pixel by pixel: reshape x to (C_in, H*W), the weight to "
              "(C_out, C_in), multiply, add the bias to every pixel and reshape back to (C_out, H, W).")
def check_conv1x1(conv1x1):
    """``conv1x1(x, weight, bias)``: ``(C_in, H, W)``, ``(C_out, C_in, 1, 1)``, ``(C_out,)`` -> ``(C_out, H, W)``."""
    gen = torch.Generator().manual_seed(2)
    for c_in, c_out, h, w in [(3, 2, 4, 5), (1, 4, 3, 3), (6, 6, 2, 7)]:
        x = torch.randn(c_in, h, w, generator=gen, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, 1, 1, generator=gen, dtype=torch.float64)
        bias = torch.randn(c_out, generator=gen, dtype=torch.float64)
        expect(_call(conv1x1, x, weight, bias), F.conv2d(x[None], weight, bias)[0],
               f"conv1x1 with in_channels={c_in}, out_channels={c_out} on a {h}x{w} image")


@checker(hint="Start from a zero kernel with requires_grad=True; each step: prediction = F.conv2d(x, kernel), "
              "loss = ((prediction - y) ** 2).mean(), loss.backward(), then kernel -= lr * kernel.grad under "
              "torch.no_grad() and reset the gradient. A learning rate around 0.1 and a few hundred steps do.")
def check_learn_kernel(learn_kernel):
    """``learn_kernel(x, y, kernel_size)`` returns the ``(kH, kW)`` kernel with ``F.conv2d(x, k) == y``."""
    gen = torch.Generator().manual_seed(3)
    for kernel_size in [(1, 2), (3, 3)]:
        hidden = torch.randn(1, 1, *kernel_size, generator=gen)
        x = torch.randn(8, 1, 12, 12, generator=gen)
        y = F.conv2d(x, hidden)
        learned = _call(learn_kernel, x, y, kernel_size)
        learned = learned.detach().reshape(-1).reshape(kernel_size) if learned.numel() == hidden.numel() else learned
        expect(learned, hidden[0, 0], f"the kernel learned for a hidden {kernel_size} kernel", rtol=0, atol=2e-2)


@checker(hint="Row r = i * W_out + j of the matrix is output pixel (i, j): it holds kernel[a, b] in column "
              "(i + a) * W + (j + b) for every kernel offset (a, b), and zeros elsewhere.")
def check_conv_matrix(conv_matrix):
    """``conv_matrix(kernel, input_size)``: ``(kH, kW)`` kernel, ``(H, W)`` -> ``(H_out*W_out, H*W)`` matrix ``T``
    with ``T @ x.flatten() == corr2d(x, kernel).flatten()``."""
    gen = torch.Generator().manual_seed(4)
    for (h, w), (kh, kw) in [((3, 3), (2, 2)), ((4, 5), (3, 2)), ((5, 4), (1, 3)), ((6, 6), (3, 3))]:
        kernel = torch.randn(kh, kw, generator=gen, dtype=torch.float64)
        matrix = _call(conv_matrix, kernel, (h, w))
        # The oracle: the Jacobian of F.conv2d with respect to its input is exactly that matrix.
        jacobian = torch.autograd.functional.jacobian(
            lambda flat, h=h, w=w, kernel=kernel: F.conv2d(flat.reshape(1, 1, h, w), kernel[None, None]).reshape(-1),
            torch.zeros(h * w, dtype=torch.float64))
        expect(matrix, jacobian, f"conv_matrix(kernel of shape {(kh, kw)}, input_size={(h, w)})")
