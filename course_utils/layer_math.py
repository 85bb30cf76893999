"""The arithmetic of conv and dense layers (notebook 02): output sizes,
receptive fields, parameter and multiply-accumulate counts.

All functions take plain integers, so they can be used to plan a network
before building it; the tests check them against ``nn.Conv2d`` shapes,
gradients and ``torch.utils.flop_counter``.
"""


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _pair(value, name, minimum):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return _int(value[0], name, minimum), _int(value[1], name, minimum)
    v = _int(value, name, minimum)
    return v, v


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Side of a conv (or pooling) output along one axis:
    ``floor((n + 2p - d*(k - 1) - 1) / s) + 1``.

    With ``dilation=1`` this is the familiar ``floor((n + 2p - k) / s) + 1``.
    ``ceil_mode=True`` is the rule of ``nn.MaxPool2d(..., ceil_mode=True)``:
    round up instead, so a last, partial window counts, unless it would start
    beyond the input and its left padding (then it is dropped). Raises
    ``ValueError`` when not even one window fits.
    """
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    d = _int(dilation, "dilation", 1)
    span = d * (k - 1) + 1
    if not ceil_mode:
        if span > n + 2 * p:
            raise ValueError(f"a kernel spanning {span} pixels does not fit in an input of {n} "
                             f"with padding {p} on each side: pad more or use a smaller kernel")
        return (n + 2 * p - span) // s + 1
    out = -(-(n + 2 * p - span) // s) + 1  # ceiling division
    if (out - 1) * s >= n + p:  # the last window would start in the right padding: PyTorch drops it
        out -= 1
    if out < 1:
        raise ValueError(f"a kernel spanning {span} pixels leaves no output for an input of {n} "
                         f"with padding {p} on each side: pad more or use a smaller kernel")
    return out


def same_padding(kernel_size, dilation=1):
    """Padding that keeps the size at stride 1: ``d*(k - 1) / 2``; needs an odd span."""
    k = _int(kernel_size, "kernel_size", 1)
    d = _int(dilation, "dilation", 1)
    if (d * (k - 1)) % 2:
        raise ValueError(f"kernel_size={k}, dilation={dilation} spans an even number of pixels: "
                         "no symmetric padding keeps the size (this is why kernels are odd)")
    return d * (k - 1) // 2


def _layer_triplet(layer, i):
    """``(k, s, d)`` from a tuple ``(k, s)``/``(k, s, d)`` or a module with those attributes."""
    if isinstance(layer, (tuple, list)):
        if len(layer) not in (2, 3):
            raise ValueError(f"layer {i} must be (kernel_size, stride) or (kernel_size, stride, dilation), "
                             f"got {layer!r}")
        k, s, d = (*layer, 1) if len(layer) == 2 else layer
    elif hasattr(layer, "kernel_size") and hasattr(layer, "stride"):
        def first(v):
            if isinstance(v, (tuple, list)):
                if len(set(v)) != 1:
                    raise ValueError(f"layer {i} ({type(layer).__name__}) is not square: {v}")
                return v[0]
            return v
        k, s = first(layer.kernel_size), first(layer.stride)
        d = first(getattr(layer, "dilation", 1))
    else:
        raise ValueError(f"layer {i} must be a (kernel_size, stride[, dilation]) tuple or a conv/pool "
                         f"module, got {type(layer).__name__}")
    return _int(k, f"layer {i} kernel_size", 1), _int(s, f"layer {i} stride", 1), _int(d, f"layer {i} dilation", 1)


def receptive_field(layers):
    """Side of the input window that one output pixel of the stack depends on.

    ``layers`` is a sequence of ``(kernel_size, stride)`` or
    ``(kernel_size, stride, dilation)`` tuples, or conv/pool modules, in
    order from the input. The recurrence (``r_0 = 1``)::

        r_l = r_(l-1) + (d_l * (k_l - 1)) * (s_1 * s_2 * ... * s_(l-1))

    The product is the *jump*: how many input pixels apart two neighbouring
    pixels of layer ``l-1`` are. Padding shifts the window, not its size.
    """
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        k, s, d = _layer_triplet(layer, i)
        r += d * (k - 1) * jump
        jump *= s
    return r


def conv2d_params(in_channels, out_channels, kernel_size, bias=True, groups=1):
    """Parameters of ``nn.Conv2d``: ``(kH*kW*C_in/groups + 1) * C_out`` (without the +1 if ``bias=False``)."""
    c_in = _int(in_channels, "in_channels", 1)
    c_out = _int(out_channels, "out_channels", 1)
    g = _int(groups, "groups", 1)
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    if c_in % g or c_out % g:
        raise ValueError(f"in_channels={c_in} and out_channels={c_out} must both be divisible by groups={g}")
    return (kh * kw * (c_in // g) + (1 if bias else 0)) * c_out


def conv2d_macs(in_channels, out_channels, kernel_size, output_size, groups=1):
    """Multiply-accumulates of one conv layer for one example:
    ``H_out * W_out * kH * kW * C_in/groups * C_out`` (bias additions not counted).

    ``output_size`` is the output's side or ``(H_out, W_out)``; get it from
    :func:`conv_output_size`.
    """
    c_in = _int(in_channels, "in_channels", 1)
    c_out = _int(out_channels, "out_channels", 1)
    g = _int(groups, "groups", 1)
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    h, w = _pair(output_size, "output_size", 1)
    if c_in % g or c_out % g:
        raise ValueError(f"in_channels={c_in} and out_channels={c_out} must both be divisible by groups={g}")
    return h * w * kh * kw * (c_in // g) * c_out


def linear_params(in_features, out_features, bias=True):
    """Parameters of ``nn.Linear``: ``in * out + out`` (``in * out`` without bias)."""
    i = _int(in_features, "in_features", 1)
    o = _int(out_features, "out_features", 1)
    return i * o + (o if bias else 0)


def linear_macs(in_features, out_features):
    """Multiply-accumulates of ``nn.Linear`` for one example: ``in * out``."""
    return _int(in_features, "in_features", 1) * _int(out_features, "out_features", 1)


def dense_layer_params_for_image(height, width, channels=1, out_features=None):
    """Weights of a dense layer that maps a ``channels x height x width`` image
    to ``out_features`` outputs (default: as many as inputs), bias included."""
    n = _int(height, "height", 1) * _int(width, "width", 1) * _int(channels, "channels", 1)
    out = n if out_features is None else _int(out_features, "out_features", 1)
    return linear_params(n, out)


__all__ = [
    "conv_output_size", "same_padding", "receptive_field", "conv2d_params", "conv2d_macs",
    "linear_params", "linear_macs", "dense_layer_params_for_image",
]
