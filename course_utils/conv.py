"""Convolution and pooling from scratch: the reference versions of notebooks 01-03.

Reading order:

1. input checks and small helpers;
2. single-channel cross-correlation, first with loops over the output
   (:func:`corr2d`), then vectorised over the output (:func:`corr2d_vectorised`),
   and "true" convolution (:func:`convolve2d`, the kernel flipped by 180 deg);
3. several input channels (:func:`corr2d_multi_in`) and several output
   channels (:func:`corr2d_multi_in_out`);
4. im2col / col2im and the batched convolution as one matrix product
   (:func:`conv2d_im2col`, with stride, padding and dilation);
5. max and average pooling, forward and backward.

Tensors follow PyTorch's layout: images ``(N, C, H, W)``, conv weights
``(out_channels, in_channels, kH, kW)``. Like ``F.conv2d`` these compute
*cross-correlation* (the kernel is not flipped). Every public function checks
its input and raises ``ValueError`` that says what was wrong and how to fix it.
"""

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Checks and helpers
# ---------------------------------------------------------------------------


def _pair(value, name, minimum):
    """``3 -> (3, 3)``; ``(3, 5)`` stays; checks each entry is an int >= ``minimum``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _check_tensor(x, name, ndim, layout):
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}: "
                         f"convert it with torch.as_tensor({name}, dtype=torch.float32)")
    if x.dim() != ndim:
        hint = ""
        if x.dim() == ndim - 1:
            hint = f": add a leading dimension with {name}.unsqueeze(0)"
        elif x.dim() == ndim + 1 and x.shape[0] == 1:
            hint = f": drop the leading dimension with {name}[0]"
        raise ValueError(f"expected {name} to be {ndim}-D {layout}, got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must hold floats, got dtype {x.dtype}: convert with {name}.float()")


def _check_fits(in_hw, kernel_hw, padding=(0, 0), dilation=(1, 1)):
    """Raise if the (dilated) kernel is larger than the (padded) input."""
    for axis, n, k, p, d in zip(("height", "width"), in_hw, kernel_hw, padding, dilation):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            extra = f" dilated to {span}" if d > 1 else ""
            raise ValueError(
                f"the kernel {axis} {k}{extra} is larger than the input {axis} {n} "
                f"plus padding 2*{p}: use a smaller kernel, more padding or a larger input")


def _output_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------------
# Single channel: loops, then vectorised
# ---------------------------------------------------------------------------


def corr2d(x, kernel):
    """2-D cross-correlation of one ``(H, W)`` image with one ``(kH, kW)`` kernel.

    Written with two loops over the output: ``out[i, j]`` is the sum of the
    element-wise product of the kernel with the window of ``x`` whose top-left
    corner is ``(i, j)``. Output: ``(H - kH + 1, W - kW + 1)``.
    """
    _check_tensor(x, "x", 2, "(H, W)")
    _check_tensor(kernel, "kernel", 2, "(kH, kW)")
    kh, kw = kernel.shape
    _check_fits(x.shape, (kh, kw))
    out = x.new_zeros(x.shape[0] - kh + 1, x.shape[1] - kw + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * kernel).sum()
    return out


def corr2d_vectorised(x, kernel):
    """The same as :func:`corr2d`, with loops over the *kernel* instead.

    A ``kH x kW`` kernel needs only ``kH * kW`` steps: at each step one kernel
    weight multiplies a whole shifted copy of the image. For a 3x3 kernel
    that is 9 tensor operations, whatever the image size.
    """
    _check_tensor(x, "x", 2, "(H, W)")
    _check_tensor(kernel, "kernel", 2, "(kH, kW)")
    kh, kw = kernel.shape
    _check_fits(x.shape, (kh, kw))
    out_h, out_w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = x.new_zeros(out_h, out_w)
    for a in range(kh):
        for b in range(kw):
            out = out + kernel[a, b] * x[a:a + out_h, b:b + out_w]
    return out


def convolve2d(x, kernel):
    """"True" convolution as in signal processing: cross-correlation with the
    kernel rotated by 180 degrees. Deep-learning libraries call
    cross-correlation "convolution"; for a learned kernel the difference does
    not matter (it would learn the flipped kernel)."""
    _check_tensor(kernel, "kernel", 2, "(kH, kW)")
    return corr2d_vectorised(x, torch.flip(kernel, dims=(0, 1)))


# ---------------------------------------------------------------------------
# Several channels
# ---------------------------------------------------------------------------


def corr2d_multi_in(x, kernel):
    """``(C, H, W)`` input, ``(C, kH, kW)`` kernel -> one ``(H', W')`` map.

    One 2-D kernel per input channel; the per-channel results are summed.
    """
    _check_tensor(x, "x", 3, "(C, H, W)")
    _check_tensor(kernel, "kernel", 3, "(C, kH, kW)")
    if x.shape[0] != kernel.shape[0]:
        raise ValueError(f"x has {x.shape[0]} channels but the kernel has {kernel.shape[0]}: "
                         "a multi-input kernel needs one 2-D slice per input channel")
    return sum(corr2d_vectorised(x_c, k_c) for x_c, k_c in zip(x, kernel))


def corr2d_multi_in_out(x, kernel):
    """``(C_in, H, W)`` input, ``(C_out, C_in, kH, kW)`` weight -> ``(C_out, H', W')``.

    One multi-input kernel per output channel, results stacked: this is why a
    conv layer's weight is 4-D.
    """
    _check_tensor(x, "x", 3, "(C_in, H, W)")
    _check_tensor(kernel, "kernel", 4, "(C_out, C_in, kH, kW)")
    if x.shape[0] != kernel.shape[1]:
        raise ValueError(f"x has {x.shape[0]} channels but the kernel expects in_channels={kernel.shape[1]} "
                         "(its dimension 1)")
    return torch.stack([corr2d_multi_in(x, k) for k in kernel])


# ---------------------------------------------------------------------------
# im2col: convolution as one matrix product
# ---------------------------------------------------------------------------


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every receptive-field window of ``x`` into a column.

    ``x``: ``(N, C, H, W)``. Returns ``(N, C * kH * kW, H_out * W_out)``, the
    same layout as ``F.unfold``: row ``(c, a, b)`` holds, for every output
    position, the input value that kernel weight ``(c, a, b)`` multiplies.
    The loop runs over the ``kH * kW`` kernel offsets; each step copies one
    strided slice of the padded input.
    """
    _check_tensor(x, "x", 4, "(N, C, H, W)")
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    dh, dw = _pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    _check_fits((h, w), (kh, kw), (ph, pw), (dh, dw))
    out_h, out_w = _output_size(h, kh, sh, ph, dh), _output_size(w, kw, sw, pw, dw)
    xp = F.pad(x, (pw, pw, ph, ph))  # (N, C, H + 2ph, W + 2pw), zeros around
    cols = x.new_empty(n, c, kh, kw, out_h, out_w)
    for a in range(kh):
        for b in range(kw):
            top, left = a * dh, b * dw
            cols[:, :, a, b] = xp[:, :, top:top + sh * (out_h - 1) + 1:sh, left:left + sw * (out_w - 1) + 1:sw]
    return cols.reshape(n, c * kh * kw, out_h * out_w)  # (N, C*kH*kW, L)


def col2im(cols, input_size, kernel_size, stride=1, padding=0, dilation=1):
    """The adjoint of :func:`im2col` (like ``F.fold``): add every column entry
    back onto the input position it was copied from.

    ``cols``: ``(N, C * kH * kW, L)``; ``input_size``: ``(H, W)`` of the
    unpadded input. Overlapping windows *add up*, which is exactly what the
    backward pass of a convolution or of average pooling needs.
    """
    _check_tensor(cols, "cols", 3, "(N, C*kH*kW, L)")
    h, w = _pair(tuple(input_size) if not isinstance(input_size, int) else input_size, "input_size", 1)
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    dh, dw = _pair(dilation, "dilation", 1)
    _check_fits((h, w), (kh, kw), (ph, pw), (dh, dw))
    out_h, out_w = _output_size(h, kh, sh, ph, dh), _output_size(w, kw, sw, pw, dw)
    n, rows, length = cols.shape
    if rows % (kh * kw) or length != out_h * out_w:
        raise ValueError(f"cols has shape {tuple(cols.shape)}, which does not fit kernel_size=({kh}, {kw}) "
                         f"with {out_h}x{out_w} output positions: expected (N, C*{kh * kw}, {out_h * out_w})")
    c = rows // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, out_h, out_w)  # (N, C, kH, kW, H_out, W_out)
    xp = cols.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    for a in range(kh):
        for b in range(kw):
            top, left = a * dh, b * dw
            xp[:, :, top:top + sh * (out_h - 1) + 1:sh, left:left + sw * (out_w - 1) + 1:sw] += cols[:, :, a, b]
    return xp[:, :, ph:ph + h, pw:pw + w]  # (N, C, H, W): drop the padding


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Batched, multi-channel 2-D convolution (cross-correlation) as one matmul.

    Same arguments and result as ``F.conv2d(x, weight, bias, stride, padding,
    dilation)``: ``x`` ``(N, C_in, H, W)``, ``weight`` ``(C_out, C_in, kH, kW)``,
    ``bias`` ``(C_out,)`` or ``None``. The weight becomes a
    ``(C_out, C_in*kH*kW)`` matrix, the input ``(N, C_in*kH*kW, L)`` columns,
    and one matrix product gives every output pixel of every channel.
    """
    _check_tensor(x, "x", 4, "(N, C_in, H, W)")
    _check_tensor(weight, "weight", 4, "(C_out, C_in, kH, kW)")
    c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(f"x has {x.shape[1]} channels but weight expects in_channels={c_in} "
                         f"(weight shape {tuple(weight.shape)}): make them agree")
    if bias is not None:
        _check_tensor(bias, "bias", 1, "(C_out,)")
        if bias.shape[0] != c_out:
            raise ValueError(f"bias has {bias.shape[0]} entries but weight has out_channels={c_out}")
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    dh, dw = _pair(dilation, "dilation", 1)
    n, _, h, w = x.shape
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw), (dh, dw))  # (N, C_in*kH*kW, L)
    out = weight.reshape(c_out, -1) @ cols  # (C_out, C_in*kH*kW) @ (N, C_in*kH*kW, L) -> (N, C_out, L)
    if bias is not None:
        out = out + bias[:, None]
    out_h, out_w = _output_size(h, kh, sh, ph, dh), _output_size(w, kw, sw, pw, dw)
    return out.reshape(n, c_out, out_h, out_w)  # (N, C_out, H_out, W_out)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


def _pool_args(x, kernel_size, stride, padding):
    _check_tensor(x, "x", 4, "(N, C, H, W)")
    k = _pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding {padding!r} is more than half the kernel size {kernel_size!r}: "
                         "a window could then hold padding only (PyTorch refuses it too)")
    _check_fits(x.shape[2:], k, p)
    return k, s, p


def _windows(x, k, s, p, fill):
    """``(N, C, H, W)`` -> ``(N, C, kH*kW, L)``: each column one pooling window.

    Pooling acts on each channel separately, so the channels move into the
    batch dimension and im2col sees one channel at a time. The padding value
    ``fill`` is -inf for max pooling (never the maximum) and 0 for average.
    """
    n, c, h, w = x.shape
    xp = F.pad(x, (p[1], p[1], p[0], p[0]), value=fill)  # (N, C, H + 2ph, W + 2pw)
    cols = im2col(xp.reshape(n * c, 1, *xp.shape[2:]), k, s)  # (N*C, kH*kW, L)
    return cols.reshape(n, c, k[0] * k[1], -1)  # (N, C, kH*kW, L)


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling of ``(N, C, H, W)``: the largest value of each window.

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows), padding
    is implicit -inf, as in ``F.max_pool2d``. With ``return_indices=True``
    also returns where each maximum came from, as a flat index into the
    ``H * W`` input plane (PyTorch's convention): the backward pass needs it.
    """
    k, s, p = _pool_args(x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    out_h, out_w = _output_size(h, k[0], s[0], p[0], 1), _output_size(w, k[1], s[1], p[1], 1)
    values, arg = _windows(x, k, s, p, float("-inf")).max(dim=2)  # (N, C, L): value and row in window
    out = values.reshape(n, c, out_h, out_w)  # (N, C, H_out, W_out)
    if not return_indices:
        return out
    # Where is row `arg` of window `l` in the input? Unfold a map of flat positions the same way.
    positions = torch.arange(h * w, dtype=torch.float64, device=x.device).reshape(1, 1, h, w)  # (1, 1, H, W)
    position_windows = _windows(positions, k, s, p, -1.0)[0, 0]  # (kH*kW, L), -1 on padding
    indices = _gather_positions(position_windows, arg)  # (N, C, L)
    return out, indices.reshape(n, c, out_h, out_w)  # (N, C, H_out, W_out)


def _gather_positions(position_windows, arg):
    """``position_windows[arg[n, c, l], l]`` for every ``(n, c, l)``, as int64."""
    n, c, length = arg.shape
    cols = torch.arange(length, device=arg.device).expand(n, c, length)
    return position_windows[arg, cols].long()  # (N, C, L)


def max_pool2d_backward(grad_output, indices, input_size):
    """Gradient of max pooling: each output's gradient goes to its arg-max.

    ``grad_output`` and ``indices`` are ``(N, C, H_out, W_out)`` (the indices
    from ``max_pool2d(..., return_indices=True)``), ``input_size`` is the
    input's ``(H, W)``. Every other input position gets zero; a position that
    is the maximum of several overlapping windows collects all their
    gradients.
    """
    _check_tensor(grad_output, "grad_output", 4, "(N, C, H_out, W_out)")
    if not isinstance(indices, torch.Tensor) or indices.shape != grad_output.shape:
        raise ValueError(f"indices must be a tensor shaped like grad_output {tuple(grad_output.shape)}, got "
                         f"{tuple(getattr(indices, 'shape', ()))}: use max_pool2d(..., return_indices=True)")
    h, w = _pair(tuple(input_size) if not isinstance(input_size, int) else input_size, "input_size", 1)
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= h * w):
        raise ValueError(f"indices must lie in [0, {h * w}) for an input of size ({h}, {w})")
    n, c = grad_output.shape[:2]
    grad_input = grad_output.new_zeros(n, c, h * w)
    grad_input.scatter_add_(2, indices.reshape(n, c, -1), grad_output.reshape(n, c, -1))  # (N, C, H*W)
    return grad_input.reshape(n, c, h, w)  # (N, C, H, W)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling of ``(N, C, H, W)``: the mean of each window.

    Zero padding counts in the mean (``count_include_pad=True``, PyTorch's
    default), so every window divides by ``kH * kW``.
    """
    k, s, p = _pool_args(x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    out_h, out_w = _output_size(h, k[0], s[0], p[0], 1), _output_size(w, k[1], s[1], p[1], 1)
    return _windows(x, k, s, p, 0.0).mean(dim=2).reshape(n, c, out_h, out_w)  # (N, C, H_out, W_out)


def avg_pool2d_backward(grad_output, input_size, kernel_size, stride=None, padding=0):
    """Gradient of average pooling: each output spreads its gradient evenly,
    ``1 / (kH * kW)`` to every position of its window (overlaps add up)."""
    _check_tensor(grad_output, "grad_output", 4, "(N, C, H_out, W_out)")
    h, w = _pair(tuple(input_size) if not isinstance(input_size, int) else input_size, "input_size", 1)
    n, c, out_h, out_w = grad_output.shape
    k, s, p = _pool_args(grad_output.new_empty(n, c, h, w), kernel_size, stride, padding)
    if (out_h, out_w) != (_output_size(h, k[0], s[0], p[0], 1), _output_size(w, k[1], s[1], p[1], 1)):
        raise ValueError(f"grad_output is {out_h}x{out_w} but pooling a {h}x{w} input with kernel_size="
                         f"{kernel_size}, stride={stride}, padding={padding} gives a different size")
    share = grad_output.reshape(n * c, 1, out_h * out_w) / (k[0] * k[1])  # (N*C, 1, L)
    cols = share.expand(n * c, k[0] * k[1], out_h * out_w)  # (N*C, kH*kW, L): same share in every row
    grad_input = col2im(cols, (h, w), k, s, p)  # (N*C, 1, H, W)
    return grad_input.reshape(n, c, h, w)  # (N, C, H, W)
