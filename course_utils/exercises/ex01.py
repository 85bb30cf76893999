"""Checkers for notebook 01 (convolution)."""

import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect, hint_function


def _call(fn, *args):
    out = fn(*args)
    if out is None:
        raise NotAttempted()
    if not isinstance(out, torch.Tensor):
        raise ExerciseError(f"expected a tensor, got {type(out).__name__}")
    return out


@checker(hint=(
    "Write one output pixel as a double sum over the kernel's taps (u, v), with the tap column[u] * row[v]. "
    "Which part of that sum depends on v only?",
    "The double sum splits: the inner sum over v is a 1-D correlation of an image row with `row`; the outer "
    "sum over u combines those results down each column with `column`. Two 1-D passes, one after the other, "
    "each keeping only the positions where its kernel fits.",
    "Correlate every row of x with `row` (as a kernel of shape (1, kW)), then every column of that result "
    "with `column` (shape (kH, 1)); e.g. F.conv2d(x[None, None], row.reshape(1, 1, 1, -1)) and then "
    "F.conv2d(..., column.reshape(1, 1, -1, 1)), or the same with slices and sums.",
))
def check_separable_corr2d(separable_corr2d):
    """``separable_corr2d(x, column, row)`` == correlation of ``x`` ``(H, W)`` with ``outer(column, row)``."""
    gen = torch.Generator().manual_seed(1)
    for h, w, kh, kw in [(6, 7, 3, 3), (5, 9, 2, 4), (8, 5, 5, 1), (4, 4, 1, 3)]:
        x = torch.randn(h, w, generator=gen, dtype=torch.float64)
        column = torch.randn(kh, generator=gen, dtype=torch.float64)
        row = torch.randn(kw, generator=gen, dtype=torch.float64)
        kernel = column[:, None] * row[None, :]  # (kH, kW): rank one
        expected = F.conv2d(x[None, None], kernel[None, None])[0, 0]
        got = _call(separable_corr2d, x.clone(), column.clone(), row.clone())
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"x of shape {(h, w)} with a {kh}x{kw} kernel should give {tuple(expected.shape)} "
                                f"(valid positions only), got {tuple(got.shape)}")
        expect(got, expected, f"separable_corr2d on x {(h, w)} with column of {kh} and row of {kw}")


def _ramp(h, w, a, b, c):
    """The image a * i + b * j + c (a linear ramp, flat when a = b = 0)."""
    i = torch.arange(h, dtype=torch.float64)[:, None]
    j = torch.arange(w, dtype=torch.float64)[None, :]
    return a * i + b * j + c


@checker(hint=(
    "Write the kernel's response to a ramp a*i + b*j + c as a sum over its nine weights. For it to be 0 "
    "whatever a, b and c are, what must be true of the weights?",
    "Three sums must vanish: the weights themselves, the weights times their row offset, and the weights "
    "times their column offset. A kernel symmetric about its centre has the last two at 0 by itself; a "
    "centre weight that balances the others gives the first, and a quarter turn must leave it unchanged.",
    "Zero on every ramp needs sum(k) = 0, sum over (u, v) of u * k[u, v] = 0 and of v * k[u, v] = 0; a kernel "
    "symmetric about its centre with a negative centre weight balancing the others has all three, e.g. "
    "[[0, 1, 0], [1, -4, 1], [0, 1, 0]] (the discrete Laplacian) or [[1, 1, 1], [1, -8, 1], [1, 1, 1]].",
))
def check_spot_detector(kernel):
    """A 3x3 kernel that is blind to shading (zero on every linear ramp), treats rows and columns alike
    (unchanged by a 90-degree rotation) and answers a single bright pixel."""
    kernel = kernel() if callable(kernel) else kernel
    if kernel is None:
        raise NotAttempted()
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    if tuple(kernel.shape) != (3, 3):
        raise ExerciseError(f"the kernel should be 3x3, got shape {tuple(kernel.shape)}")
    gen = torch.Generator().manual_seed(5)
    for _ in range(5):
        a, b, c = (10 * torch.randn(3, generator=gen, dtype=torch.float64)).tolist()
        response = F.conv2d(_ramp(9, 11, a, b, c)[None, None], kernel[None, None])[0, 0]
        if response.abs().max() > 1e-6 * (abs(a) + abs(b) + abs(c) + 1):
            raise ExerciseError(f"on the ramp {a:.2f}*i + {b:.2f}*j + {c:.2f} the output should be 0 everywhere "
                                f"(gradual shading is not a spot), got values up to {response.abs().max():.3g}")
    if not torch.allclose(torch.rot90(kernel), kernel, atol=1e-9):
        raise ExerciseError("rotated by 90 degrees the kernel changes, so it treats rows and columns differently")
    dot = torch.zeros(7, 7, dtype=torch.float64)
    dot[3, 3] = 1.0
    at_dot = F.conv2d(dot[None, None], kernel[None, None])[0, 0, 2, 2]
    if abs(at_dot) < 1e-6:
        raise ExerciseError("the output at a single bright pixel is 0: the kernel does not see spots")


@checker(hint=(
    "What exactly is unknown here, and how does one output value depend on those unknowns?",
    "Each output value is one input window (C_in * k * k numbers) times one output channel's weights, plus "
    "its bias: linear in the unknowns. Stack every window of every image as a row of one matrix, with a "
    "column of ones for the bias, and the layer becomes one linear system, solved for all output channels "
    "at once by least squares.",
    "cols = F.unfold(x, kernel_size) has shape (N, C_in*k*k, L); make A = cols.transpose(1, 2).reshape(-1, "
    "C_in*k*k) with a column of ones appended (for the bias), B = y.flatten(2).transpose(1, 2).reshape(-1, "
    "C_out); solution = torch.linalg.lstsq(A, B).solution; the weight is solution[:-1].T reshaped to "
    "(C_out, C_in, k, k) and the bias solution[-1].",
))
def check_fit_conv(fit_conv):
    """``fit_conv(x, y, kernel_size)`` -> ``(weight, bias)`` with ``F.conv2d(x, weight, bias) == y``."""
    gen = torch.Generator().manual_seed(3)
    for n, c_in, c_out, k, side in [(2, 1, 1, 3, 8), (3, 3, 4, 3, 9), (2, 2, 5, 2, 7), (1, 4, 2, 5, 16)]:
        weight = torch.randn(c_out, c_in, k, k, generator=gen, dtype=torch.float64)
        bias = torch.randn(c_out, generator=gen, dtype=torch.float64)
        x = torch.randn(n, c_in, side, side, generator=gen, dtype=torch.float64)
        y = F.conv2d(x, weight, bias)
        result = fit_conv(x.clone(), y.clone(), k)
        if result is None:
            raise NotAttempted()
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise ExerciseError(f"fit_conv should return (weight, bias), got {type(result).__name__}")
        what = f"for {c_in} -> {c_out} channels and a {k}x{k} kernel"
        found_weight, found_bias = (torch.as_tensor(r).detach().double() for r in result)
        if tuple(found_weight.shape) != tuple(weight.shape):
            raise ExerciseError(f"the weight {what} should have shape {tuple(weight.shape)} (C_out, C_in, k, k), "
                                f"got {tuple(found_weight.shape)}")
        expect(found_weight, weight, f"the weight found {what}", rtol=1e-4, atol=1e-6)
        expect(found_bias.reshape(-1), bias, f"the bias found {what}", rtol=1e-4, atol=1e-6)


@checker(hint=(
    "Row r of the matrix is output pixel r (in row-major order): which input pixels does it touch, and with "
    "which kernel weights?",
    "Output pixel (i, j) reads the window whose top-left corner is input pixel (i, j): kernel tap (a, b) "
    "meets input pixel (i + a, j + b). So each row holds the kernel's weights at those flattened positions "
    "and zeros everywhere else; neighbouring rows hold the same weights, shifted.",
    "Row r = i * W_out + j of the matrix is output pixel (i, j): it holds kernel[a, b] in column "
    "(i + a) * W + (j + b) for every kernel offset (a, b), and zeros elsewhere.",
))
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


hint = hint_function(__name__)
