"""A small CNN in NumPy alone: every forward and backward pass written by hand.

This is the reference implementation of notebook 05 (manual backpropagation).
There is deliberately no PyTorch here; the unit tests compare every layer with
finite differences and with PyTorch autograd on identical weights.

Every layer has the same three-part interface:

- ``forward(x)`` computes the output and keeps what the backward pass needs
  (the input, a mask, the arg-max positions);
- ``backward(grad_output)`` receives the *upstream gradient* dL/d(output),
  stores the parameter gradients (``grad_weight``, ``grad_bias``) and returns
  dL/d(input), the upstream gradient of the layer below;
- ``params()`` / ``grads()`` list the parameter arrays and their gradients in
  the same order (empty for layers without parameters).

Shapes follow PyTorch: images are ``(N, C, H, W)``, a conv weight is
``(out_channels, in_channels, kH, kW)``, a linear weight is
``(out_features, in_features)``, so weights copy across unchanged.

Reading order: the correlation helper, then the layers (conv, ReLU, max-pool,
flatten, linear), the loss, the container and the optimiser.
"""

import numpy as np

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _pair(value, name):
    """``3 -> (3, 3)``; ``(3, 5)`` stays; anything else raises."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def _check_float_array(x, name, ndim, layout):
    if not isinstance(x, np.ndarray):
        raise ValueError(
            f"{name} must be a NumPy array, got {type(x).__name__}: "
            "convert a tensor with t.detach().cpu().numpy()"
        )
    if x.ndim != ndim:
        hint = " (add a batch dimension with x[None])" if x.ndim == ndim - 1 else ""
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {x.shape}{hint}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{name} must hold floats, got dtype {x.dtype}: convert with x.astype(np.float32)"
        )


def _check_grad(grad_output, expected_shape, layer):
    if expected_shape is None:
        raise ValueError(f"{layer}.backward called before forward: run forward(x) first")
    if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected_shape:
        shape = getattr(grad_output, "shape", type(grad_output).__name__)
        raise ValueError(
            f"{layer}.backward expected an upstream gradient of shape {expected_shape} "
            f"(the shape of the last forward output), got {shape}"
        )


def correlate2d(x, weight, stride=1):
    """Batched multi-channel 2-D cross-correlation without padding (im2col).

    ``out[n, f, i, j] = sum_{c, u, v} x[n, c, i*s + u, j*s + v] * weight[f, c, u, v]``

    Args:
        x: input, ``(N, C, H, W)``.
        weight: kernels, ``(F, C, kH, kW)``.
        stride: step between windows (int or pair).

    Returns:
        ``(N, F, H_out, W_out)`` with ``H_out = (H - kH) // s + 1``.
    """
    _check_float_array(x, "correlate2d input", 4, "(N, C, H, W)")
    _check_float_array(weight, "correlate2d weight", 4, "(F, C, kH, kW)")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"correlate2d: the input has {x.shape[1]} channels but the weight expects "
                         f"{weight.shape[1]} (weight shape {weight.shape})")
    sh, sw = _pair(stride, "stride")
    kh, kw = weight.shape[2:]
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ValueError(f"correlate2d: kernel {kh}x{kw} is larger than the input {x.shape[2]}x{x.shape[3]}: "
                         "pad the input first")
    # Every kH x kW window as a view, no copy yet.
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]  # (N, C, H_out, W_out, kH, kW)
    # tensordot copies the windows into one matrix (this is im2col) and does a
    # single matrix product with the flattened kernels.
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))  # (N, H_out, W_out, F)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))  # (N, F, H_out, W_out)


def dilate(grad, stride):
    """Insert ``stride - 1`` zeros between neighbouring pixels of ``grad``.

    With stride s the output pixel (i, j) was computed from the window at
    (i*s, j*s); spacing the gradient out by s puts it back at that position,
    after which the backward pass is the same as for stride 1.
    """
    _check_float_array(grad, "dilate input", 4, "(N, C, H, W)")
    sh, sw = _pair(stride, "stride")
    if (sh, sw) == (1, 1):
        return grad
    n, c, h, w = grad.shape
    out = np.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=grad.dtype)
    out[:, :, ::sh, ::sw] = grad
    return out


def rotate180(weight):
    """Rotate every kernel by 180 degrees (flip both spatial axes)."""
    return weight[..., ::-1, ::-1]


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------


class Layer:
    """Base class: no parameters, a name for error messages."""

    def params(self):
        return []

    def grads(self):
        return []

    def astype(self, dtype):
        """Cast the parameters (and their gradients) to ``dtype`` in place."""
        for name in getattr(self, "_param_names", ()):
            setattr(self, name, getattr(self, name).astype(dtype))
            setattr(self, "grad_" + name, getattr(self, "grad_" + name).astype(dtype))
        return self

    def __repr__(self):
        return f"{type(self).__name__}()"


class Conv2d(Layer):
    """2-D convolution (PyTorch's cross-correlation) with stride and zero padding.

    Forward: ``y = correlate(pad(x), W) + b``.

    Backward, given the upstream gradient ``g = dL/dy`` (spaced out by
    :func:`dilate` when the stride is above 1):

    - ``dL/db[f] = sum over n, i, j of g[n, f, i, j]``;
    - ``dL/dW`` is the correlation of the padded input with ``g`` (each weight
      touched every input pixel its window slid over);
    - ``dL/dx`` is the *full* convolution of ``g`` with the kernel: pad ``g`` by
      ``k - 1`` on every side and correlate it with the kernel rotated by 180
      degrees (in/out channels swapped), then cut the input padding away.

    Args:
        in_channels: channels of the input.
        out_channels: number of kernels (channels of the output).
        kernel_size: int or (kH, kW).
        stride: int or pair, default 1.
        padding: zeros added on each side, int or pair, default 0.
        bias: whether to learn a per-channel bias.
        dtype: parameter dtype, ``np.float32`` (default) or ``np.float64``.
        rng: a ``np.random.Generator`` for the He initialisation.
    """

    _param_names = ("weight", "bias")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias=True, dtype=np.float32, rng=None):
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"need kernel_size >= 1, stride >= 1, padding >= 0; got kernel_size="
                f"{self.kernel_size}, stride={self.stride}, padding={self.padding}"
            )
        rng = np.random.default_rng() if rng is None else rng
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        # He et al. (2015) initialisation: keeps the activation variance
        # roughly constant through ReLU layers.
        self.weight = (rng.standard_normal((self.out_channels, self.in_channels, kh, kw))
                       * np.sqrt(2.0 / fan_in)).astype(dtype)
        self.bias = np.zeros(self.out_channels, dtype=dtype)
        self.use_bias = bool(bias)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)
        self._x_padded = None
        self._out_shape = None
        self._in_shape = None

    def params(self):
        return [self.weight, self.bias] if self.use_bias else [self.weight]

    def grads(self):
        return [self.grad_weight, self.grad_bias] if self.use_bias else [self.grad_weight]

    def output_size(self, height, width):
        """``floor((n + 2p - k) / s) + 1`` along each axis."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    def forward(self, x):
        _check_float_array(x, "Conv2d input", 4, "(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d expected {self.in_channels} input channels, got shape {x.shape} "
                f"with {x.shape[1]}: check in_channels or the layer before"
            )
        (ph, pw), (kh, kw) = self.padding, self.kernel_size
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"Conv2d kernel {self.kernel_size} does not fit the padded input "
                f"{x.shape[2] + 2 * ph}x{x.shape[3] + 2 * pw}: use a larger input or more padding"
            )
        x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H+2p, W+2p)
        out = correlate2d(x_padded, self.weight, self.stride)
        if self.use_bias:
            out += self.bias[None, :, None, None]
        self._x_padded, self._in_shape, self._out_shape = x_padded, x.shape, out.shape
        return out

    def backward(self, grad_output):
        _check_grad(grad_output, self._out_shape, "Conv2d")
        x_padded = self._x_padded
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, _, hp, wp = x_padded.shape

        # Bias: every output pixel of channel f added b[f] once.
        self.grad_bias[...] = grad_output.sum(axis=(0, 2, 3)) if self.use_bias else 0

        # Back to stride 1: put each gradient at the top-left corner of its window.
        g = dilate(grad_output, self.stride)  # (N, F, Hd, Wd)

        # dL/dW[f, c, u, v] = sum_{n, i, j} x_pad[n, c, i + u, j + v] * g[n, f, i, j]:
        # a correlation of the input with the gradient in which the batch axis
        # is summed like a channel axis, so swap N and C before correlating.
        grad_w = correlate2d(x_padded.transpose(1, 0, 2, 3),  # (C, N, Hp, Wp)
                             g.transpose(1, 0, 2, 3))  # (F, N, Hd, Wd) -> (C, F, ., .)
        # With a stride that does not divide evenly, the last rows/columns of the
        # input were never reached: the correlation is larger than the kernel.
        self.grad_weight[...] = grad_w.transpose(1, 0, 2, 3)[:, :, :kh, :kw]  # (F, C, kH, kW)

        # dL/dx: full convolution = pad g by k - 1, correlate with the rotated
        # kernel whose in/out channels are swapped.
        g_full = np.pad(g, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
        w_rot = rotate180(self.weight).transpose(1, 0, 2, 3)  # (C, F, kH, kW)
        grad_xp = correlate2d(g_full, w_rot)  # (N, C, (Ho-1)s + kH, (Wo-1)s + kW)
        # Input rows/cols beyond the last window get no gradient: pad with zeros.
        rows, cols = grad_xp.shape[2:]
        grad_xp = np.pad(grad_xp, ((0, 0), (0, 0), (0, hp - rows), (0, wp - cols)))
        _, _, h, w = self._in_shape
        return np.ascontiguousarray(grad_xp[:, :, ph:ph + h, pw:pw + w])  # (N, C, H, W)

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding})")


class ReLU(Layer):
    """``max(0, x)``; the backward pass lets the gradient through where x > 0."""

    def __init__(self):
        self._mask = None

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            raise ValueError(f"ReLU input must be a NumPy array, got {type(x).__name__}")
        self._mask = x > 0
        return np.where(self._mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, grad_output):
        _check_grad(grad_output, None if self._mask is None else self._mask.shape, "ReLU")
        return grad_output * self._mask


class MaxPool2d(Layer):
    """Max pooling that remembers where each maximum came from.

    Backward: each output pixel's gradient goes to the one input position that
    won its window (the arg-max stored by ``forward``); every other position
    gets zero. Overlapping windows (stride < kernel) add up.

    Args:
        kernel_size: int or pair.
        stride: int or pair; defaults to ``kernel_size`` like PyTorch.
        padding: implicit ``-inf`` padding on each side (at most half the kernel).
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"kernel_size and stride must be >= 1, got {self.kernel_size}, {self.stride}")
        if not (0 <= ph <= kh // 2 and 0 <= pw <= kw // 2):
            raise ValueError(
                f"padding must be between 0 and half the kernel, got padding={self.padding} "
                f"for kernel_size={self.kernel_size}"
            )
        self._argmax = None
        self._in_shape = None
        self._out_shape = None

    def forward(self, x):
        _check_float_array(x, "MaxPool2d input", 4, "(N, C, H, W)")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        n, c, h, w = x.shape
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"MaxPool2d window {self.kernel_size} is larger than the input {h}x{w}")
        x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        windows = np.lib.stride_tricks.sliding_window_view(x_padded, (kh, kw), axis=(2, 3))
        windows = windows[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kH, kW)
        ho, wo = windows.shape[2:4]
        flat = windows.reshape(n, c, ho, wo, kh * kw)  # (N, C, Ho, Wo, kH*kW)
        best = flat.argmax(axis=-1)  # first maximum, as PyTorch
        out = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]  # (N, C, Ho, Wo)
        # Remember the arg-max as a flat index into the padded input.
        rows = np.arange(ho)[:, None] * sh + best // kw  # (N, C, Ho, Wo)
        cols = np.arange(wo)[None, :] * sw + best % kw
        hp, wp = h + 2 * ph, w + 2 * pw
        plane = (np.arange(n)[:, None] * c + np.arange(c)[None, :])[:, :, None, None]
        self._argmax = (plane * hp + rows) * wp + cols
        self._in_shape, self._out_shape = x.shape, out.shape
        return out

    def backward(self, grad_output):
        _check_grad(grad_output, self._out_shape, "MaxPool2d")
        n, c, h, w = self._in_shape
        (ph, pw) = self.padding
        hp, wp = h + 2 * ph, w + 2 * pw
        # Route every gradient to its arg-max; bincount adds up repeated targets.
        grad = np.bincount(self._argmax.ravel(), weights=grad_output.ravel(),
                           minlength=n * c * hp * wp)
        grad = grad.reshape(n, c, hp, wp).astype(grad_output.dtype)  # (N, C, Hp, Wp)
        return np.ascontiguousarray(grad[:, :, ph:ph + h, pw:pw + w])  # (N, C, H, W)

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)``; backward reshapes the gradient back."""

    def __init__(self):
        self._in_shape = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(
                f"Flatten expects an array with a batch axis, got {getattr(x, 'shape', type(x).__name__)}"
            )
        self._in_shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, C*H*W)

    def backward(self, grad_output):
        if self._in_shape is None:
            raise ValueError("Flatten.backward called before forward: run forward(x) first")
        expected = (self._in_shape[0], int(np.prod(self._in_shape[1:])))
        _check_grad(grad_output, expected, "Flatten")
        return grad_output.reshape(self._in_shape)  # (N, C, H, W)


class Linear(Layer):
    """Fully-connected layer ``y = x W^T + b`` (PyTorch's ``nn.Linear``).

    Backward with upstream gradient ``g = dL/dy`` of shape ``(N, out)``:
    ``dL/dW = g^T x``, ``dL/db = sum_n g``, ``dL/dx = g W``.

    Args:
        in_features: size of each input row.
        out_features: size of each output row.
        dtype: parameter dtype, ``np.float32`` (default) or ``np.float64``.
        rng: a ``np.random.Generator`` for the initialisation.
    """

    _param_names = ("weight", "bias")

    def __init__(self, in_features, out_features, dtype=np.float32, rng=None):
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rng = np.random.default_rng() if rng is None else rng
        self.weight = (rng.standard_normal((self.out_features, self.in_features))
                       * np.sqrt(1.0 / self.in_features)).astype(dtype)
        self.bias = np.zeros(self.out_features, dtype=dtype)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)
        self._x = None

    def params(self):
        return [self.weight, self.bias]

    def grads(self):
        return [self.grad_weight, self.grad_bias]

    def forward(self, x):
        _check_float_array(x, "Linear input", 2, "(N, in_features)")
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear expected {self.in_features} input features, got shape {x.shape}: "
                "check in_features (after Flatten it is C*H*W of the layer before)"
            )
        self._x = x
        return x @ self.weight.T + self.bias

    def backward(self, grad_output):
        _check_grad(grad_output, None if self._x is None else (self._x.shape[0], self.out_features),
                    "Linear")
        self.grad_weight[...] = grad_output.T @ self._x  # (out, in)
        self.grad_bias[...] = grad_output.sum(axis=0)  # (out,)
        return grad_output @ self.weight  # (N, in)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


# ---------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------


def log_softmax(logits):
    """Row-wise log-softmax with the log-sum-exp trick (subtract the row max)."""
    _check_float_array(logits, "logits", 2, "(N, num_classes)")
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """Mean cross-entropy of ``softmax(logits)`` against integer class labels.

    ``forward(logits, labels)`` returns the scalar loss
    ``-mean_n log softmax(z_n)[y_n]``; ``backward()`` returns
    ``dL/dz = (softmax(z) - onehot(y)) / N``, the upstream gradient that starts
    the backward pass through the network.
    """

    def __init__(self):
        self._probs = None
        self._labels = None

    def forward(self, logits, labels):
        _check_float_array(logits, "logits", 2, "(N, num_classes)")
        labels = np.asarray(labels)
        if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be {logits.shape[0]} integer class indices, shape ({logits.shape[0]},), "
                f"got shape {labels.shape} and dtype {labels.dtype} (no one-hot encoding needed)"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(
                f"labels must lie in [0, {logits.shape[1] - 1}], got values from "
                f"{labels.min()} to {labels.max()}"
            )
        log_probs = log_softmax(logits)
        self._probs = np.exp(log_probs)
        self._labels = labels
        return -log_probs[np.arange(len(labels)), labels].mean()

    def backward(self):
        if self._probs is None:
            raise ValueError("SoftmaxCrossEntropy.backward called before forward")
        n = len(self._labels)
        grad = self._probs.copy()
        grad[np.arange(n), self._labels] -= 1  # softmax - onehot
        return grad / n


# ---------------------------------------------------------------------------
# Container and optimiser
# ---------------------------------------------------------------------------


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, *layers):
        for layer in layers:
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise ValueError(f"Sequential takes layers with forward/backward, got {layer!r}")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, grad_output):
        """Backpropagate ``dL/d(output)``; returns ``dL/d(input)``."""
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def params(self):
        return [p for layer in self.layers for p in layer.params()]

    def grads(self):
        return [g for layer in self.layers for g in layer.grads()]

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def num_params(self):
        return sum(p.size for p in self.params())

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, as ``torch.optim.SGD``.

    ``v <- momentum * v + grad``; ``param <- param - lr * v`` (in place, so the
    layers see the new values).

    Args:
        model: anything with ``params()`` and ``grads()`` (e.g. ``Sequential``).
        lr: learning rate.
        momentum: 0 for plain SGD.
        weight_decay: L2 penalty added to the gradient, ``grad + wd * param``.
    """

    def __init__(self, model, lr, momentum=0.0, weight_decay=0.0):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(
                f"need lr > 0, 0 <= momentum < 1, weight_decay >= 0; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}"
            )
        self.model, self.lr, self.momentum, self.weight_decay = model, lr, momentum, weight_decay
        self._velocity = None

    def step(self):
        params, grads = self.model.params(), self.model.grads()
        if self._velocity is None:
            self._velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self._velocity):
            if self.weight_decay:
                g = g + self.weight_decay * p
            v *= self.momentum
            v += g
            p -= self.lr * v
