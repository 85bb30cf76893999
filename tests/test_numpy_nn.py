"""The NumPy CNN of notebook 05 against two independent oracles.

Every layer's backward pass is compared with (1) central finite differences of
its own forward pass and (2) PyTorch autograd on identical weights and inputs,
in float64, over random shapes with odd sizes, strides and padding. The
criterion is the relative error ``max|a - b| / max(|a|, |b|) < 1e-6``.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import numpy_nn as nn

TOL = 1e-6


def rel_err(actual, expected):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(actual).max(), np.abs(expected).max(), 1e-12)
    return np.abs(actual - expected).max() / scale


def finite_diff(f, x, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to ``x`` (perturbed in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# --- random configurations: odd sizes, strides, padding, rectangular kernels ---

def conv_configs(count, seed, max_side):
    rng = np.random.default_rng(seed)
    configs = [
        # (N, C_in, H, W, C_out, kernel, stride, padding): hand-picked corner cases
        (2, 3, 7, 7, 4, 3, 1, 0),
        (1, 2, 5, 8, 3, 3, 2, 1),  # stride does not divide: unused last column
        (2, 1, 6, 5, 2, (3, 2), (2, 1), (1, 0)),  # rectangular everything
        (1, 2, 4, 4, 3, 5, 1, 2),  # kernel larger than the input, "same" padding
        (1, 1, 7, 7, 1, 1, 3, 0),  # 1x1 kernel, big stride
    ]
    while len(configs) < count:
        k = int(rng.integers(1, 5))
        s = int(rng.integers(1, 4))
        p = int(rng.integers(0, k))
        h = int(rng.integers(max(k - 2 * p, 1), max_side + 1))
        w = int(rng.integers(max(k - 2 * p, 1), max_side + 1))
        configs.append((int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w,
                        int(rng.integers(1, 5)), k, s, p))
    return configs


def make_conv(cfg, rng):
    n, c, h, w, f, k, s, p = cfg
    conv = nn.Conv2d(c, f, k, stride=s, padding=p, dtype=np.float64, rng=rng)
    conv.bias[...] = rng.standard_normal(f)
    x = rng.standard_normal((n, c, h, w))
    return conv, x


@pytest.mark.parametrize("cfg", conv_configs(14, seed=1, max_side=11))
def test_conv_matches_torch_autograd(cfg):
    rng = np.random.default_rng(0)
    conv, x = make_conv(cfg, rng)
    y = conv.forward(x)
    g = rng.standard_normal(y.shape)
    dx = conv.backward(g)

    xt, wt, bt = t(x, True), t(conv.weight, True), t(conv.bias, True)
    yt = F.conv2d(xt, wt, bt, stride=conv.stride, padding=conv.padding)
    yt.backward(t(g))
    assert y.shape == tuple(yt.shape)
    assert rel_err(y, yt.detach()) < TOL, "forward differs from F.conv2d"
    assert rel_err(dx, xt.grad) < TOL, "dL/dx differs from autograd"
    assert rel_err(conv.grad_weight, wt.grad) < TOL, "dL/dW differs from autograd"
    assert rel_err(conv.grad_bias, bt.grad) < TOL, "dL/db differs from autograd"


@pytest.mark.parametrize("cfg", conv_configs(8, seed=2, max_side=6))
def test_conv_matches_finite_differences(cfg):
    rng = np.random.default_rng(1)
    conv, x = make_conv(cfg, rng)
    g = rng.standard_normal(conv.forward(x).shape)
    dx = conv.backward(g)

    def loss():
        return float((conv.forward(x) * g).sum())

    assert rel_err(dx, finite_diff(loss, x)) < TOL
    assert rel_err(conv.grad_weight, finite_diff(loss, conv.weight)) < TOL
    assert rel_err(conv.grad_bias, finite_diff(loss, conv.bias)) < TOL


@pytest.mark.parametrize("shape,wshape,stride", [((2, 3, 7, 6), (4, 3, 3, 2), 1), ((1, 2, 9, 8), (3, 2, 3, 3), (2, 3))])
def test_correlate2d_matches_conv2d(shape, wshape, stride):
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal(shape), rng.standard_normal(wshape)
    assert rel_err(nn.correlate2d(x, w, stride), F.conv2d(t(x), t(w), stride=stride)) < TOL


@pytest.mark.parametrize("stride", [1, 2, (3, 2)])
def test_dilate_matches_transposed_conv_with_unit_kernel(stride):
    g = np.random.default_rng(14).standard_normal((2, 3, 4, 5))
    ref = F.conv_transpose2d(t(g).reshape(6, 1, 4, 5), torch.ones(1, 1, 1, 1, dtype=torch.float64),
                             stride=stride)  # (N*C, 1, H', W'): zeros between the entries
    assert np.array_equal(nn.dilate(g, stride), ref.reshape(2, 3, *ref.shape[2:]).numpy())  # (N, C, H', W')


def test_rotate180_and_log_softmax_match_torch():
    rng = np.random.default_rng(15)
    w = rng.standard_normal((2, 3, 3, 4))
    assert np.array_equal(nn.rotate180(w), torch.rot90(t(w), 2, dims=(2, 3)).numpy())
    z = rng.standard_normal((4, 6)) * 50
    assert rel_err(nn.log_softmax(z), F.log_softmax(t(z), dim=1)) < TOL


def test_conv_input_gradient_is_full_convolution_with_rotated_kernel():
    """The stride-1 input gradient spelled out: pad g by k-1, correlate with rot180(W)."""
    rng = np.random.default_rng(3)
    conv = nn.Conv2d(1, 1, 3, dtype=np.float64, rng=rng)
    x = rng.standard_normal((1, 1, 5, 5))
    g = rng.standard_normal(conv.forward(x).shape)  # (1, 1, 3, 3)
    dx = conv.backward(g)
    g_full = np.pad(g[0, 0], 2)
    w_rot = conv.weight[0, 0, ::-1, ::-1]
    loops = np.array([[(g_full[i:i + 3, j:j + 3] * w_rot).sum() for j in range(5)] for i in range(5)])
    assert rel_err(dx[0, 0], loops) < TOL
    # ... and the same as scattering each g[i, j] * W back onto its window
    scatter = np.zeros((5, 5))
    for i in range(3):
        for j in range(3):
            scatter[i:i + 3, j:j + 3] += g[0, 0, i, j] * conv.weight[0, 0]
    assert rel_err(dx[0, 0], scatter) < TOL


@pytest.mark.parametrize("kernel,stride,padding,shape", [
    (2, None, 0, (2, 3, 8, 8)),
    (2, None, 0, (1, 2, 7, 9)),  # odd sizes: last row/column dropped
    (3, 2, 1, (2, 2, 7, 6)),
    (3, 1, 0, (1, 3, 6, 5)),  # overlapping windows: gradients add up
    ((2, 3), (1, 2), (1, 1), (2, 1, 5, 7)),
])
def test_maxpool_matches_torch_and_finite_differences(kernel, stride, padding, shape):
    rng = np.random.default_rng(4)
    pool = nn.MaxPool2d(kernel, stride, padding)
    x = rng.standard_normal(shape)
    y = pool.forward(x)
    g = rng.standard_normal(y.shape)
    dx = pool.backward(g)

    xt = t(x, True)
    yt = F.max_pool2d(xt, kernel, stride, padding)
    yt.backward(t(g))
    assert rel_err(y, yt.detach()) < TOL
    assert rel_err(dx, xt.grad) < TOL

    fd = finite_diff(lambda: float((pool.forward(x) * g).sum()), x)
    assert rel_err(dx, fd) < TOL


def test_maxpool_routes_gradient_to_argmax_only():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    pool = nn.MaxPool2d(2)
    assert pool.forward(x).item() == 5.0
    dx = pool.backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 7.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5, 4)])
def test_relu_matches_torch_and_finite_differences(shape):
    rng = np.random.default_rng(5)
    relu = nn.ReLU()
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    g = rng.standard_normal(shape)
    relu.forward(x)
    dx = relu.backward(g)
    xt = t(x, True)
    F.relu(xt).backward(t(g))
    assert rel_err(dx, xt.grad) < TOL
    assert rel_err(dx, finite_diff(lambda: float((relu.forward(x) * g).sum()), x)) < TOL


@pytest.mark.parametrize("n,fin,fout", [(1, 1, 1), (4, 7, 3), (5, 13, 10)])
def test_linear_matches_torch_and_finite_differences(n, fin, fout):
    rng = np.random.default_rng(6)
    linear = nn.Linear(fin, fout, dtype=np.float64, rng=rng)
    linear.bias[...] = rng.standard_normal(fout)
    x = rng.standard_normal((n, fin))
    y = linear.forward(x)
    g = rng.standard_normal(y.shape)
    dx = linear.backward(g)

    xt, wt, bt = t(x, True), t(linear.weight, True), t(linear.bias, True)
    yt = F.linear(xt, wt, bt)
    yt.backward(t(g))
    assert rel_err(y, yt.detach()) < TOL
    for mine, ref in [(dx, xt.grad), (linear.grad_weight, wt.grad), (linear.grad_bias, bt.grad)]:
        assert rel_err(mine, ref) < TOL

    def loss():
        return float((linear.forward(x) * g).sum())

    assert rel_err(dx, finite_diff(loss, x)) < TOL
    assert rel_err(linear.grad_weight, finite_diff(loss, linear.weight)) < TOL
    assert rel_err(linear.grad_bias, finite_diff(loss, linear.bias)) < TOL


def test_flatten_round_trip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    flat = nn.Flatten()
    y = flat.forward(x)
    np.testing.assert_array_equal(y, torch.flatten(torch.tensor(x), 1).numpy())
    np.testing.assert_array_equal(flat.backward(y * 2), x * 2)


@pytest.mark.parametrize("n,classes", [(1, 2), (6, 10), (9, 3)])
def test_softmax_cross_entropy_matches_torch_and_finite_differences(n, classes):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((n, classes)) * 3
    y = rng.integers(0, classes, n)
    loss_fn = nn.SoftmaxCrossEntropy()
    loss = loss_fn.forward(z, y)
    dz = loss_fn.backward()

    zt = t(z, True)
    lt = F.cross_entropy(zt, torch.tensor(y))
    lt.backward()
    assert abs(loss - lt.item()) < TOL * abs(lt.item())
    assert rel_err(dz, zt.grad) < TOL
    assert rel_err(dz, finite_diff(lambda: nn.SoftmaxCrossEntropy().forward(z, y), z)) < TOL
    # the closed form: (softmax - onehot) / N
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert rel_err(dz, (probs - np.eye(classes)[y]) / n) < TOL


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [5000.0, 5001.0, 0.0]])
    y = np.array([0, 1])
    loss = nn.SoftmaxCrossEntropy().forward(z, y)
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    assert np.isfinite(loss) and abs(loss - ref) < 1e-9


def small_cnn(rng, dtype=np.float64):
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5, dtype=dtype, rng=rng),
    )


def torch_forward(model, x):
    """The same network written with torch.nn.functional on copies of the weights."""
    c1, _, _, c2, _, _, d = model.layers
    p = [t(a, True) for a in model.params()]
    h = F.relu(F.conv2d(x, p[0], p[1], stride=c1.stride, padding=c1.padding))
    h = F.max_pool2d(h, 2)
    h = F.relu(F.conv2d(h, p[2], p[3], stride=c2.stride, padding=c2.padding))
    return F.linear(h.flatten(1), p[4], p[5]), p


@pytest.mark.parametrize("n,h,w", [(3, 9, 8), (2, 7, 7)])
def test_whole_cnn_matches_torch_autograd(n, h, w):
    rng = np.random.default_rng(8)
    model = small_cnn(rng)
    for b in model.params()[1::2]:
        b[...] = rng.standard_normal(b.shape) * 0.1
    x = rng.standard_normal((n, 2, h, w))
    y = rng.integers(0, 5, n)
    loss_fn = nn.SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    dx = model.backward(loss_fn.backward())

    xt = t(x, True)
    logits, p = torch_forward(model, xt)
    lt = F.cross_entropy(logits, torch.tensor(y))
    lt.backward()
    assert abs(loss - lt.item()) < 1e-12
    assert rel_err(dx, xt.grad) < TOL
    for mine, ref in zip(model.grads(), p):
        assert rel_err(mine, ref.grad) < TOL


def test_whole_cnn_matches_finite_differences():
    rng = np.random.default_rng(9)
    model = small_cnn(rng)
    x = rng.standard_normal((2, 2, 8, 8))
    y = np.array([1, 3])
    loss_fn = nn.SoftmaxCrossEntropy()

    def loss():
        return loss_fn.forward(model.forward(x), y)

    loss()
    model.backward(loss_fn.backward())
    analytic = [g.copy() for g in model.grads()]
    for param, grad in zip(model.params(), analytic):
        assert rel_err(grad, finite_diff(loss, param)) < TOL


def test_float32_stays_float32():
    rng = np.random.default_rng(10)
    model = small_cnn(rng, dtype=np.float32)
    x = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)
    out = model.forward(x)
    assert out.dtype == np.float32
    assert model.backward(np.ones_like(out)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.grads())
    model.astype(np.float64)
    assert all(p.dtype == np.float64 for p in model.params() + model.grads())


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-2)])
def test_sgd_matches_torch(momentum, weight_decay):
    rng = np.random.default_rng(11)
    linear = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    model = nn.Sequential(linear)
    ref = [torch.tensor(p.copy(), requires_grad=True) for p in model.params()]
    opt = nn.SGD(model, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    opt_t = torch.optim.SGD(ref, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape) for p in model.params()]
        for g, mine, r in zip(grads, model.grads(), ref):
            mine[...] = g
            r.grad = torch.tensor(g)
        opt.step()
        opt_t.step()
    for mine, r in zip(model.params(), ref):
        assert rel_err(mine, r.detach()) < 1e-12


def test_training_reduces_loss():
    """A few SGD steps on one batch must overfit it (the backward pass points downhill)."""
    rng = np.random.default_rng(12)
    model = small_cnn(rng)
    x = rng.standard_normal((8, 2, 8, 8))
    y = rng.integers(0, 5, 8)
    loss_fn = nn.SoftmaxCrossEntropy()
    opt = nn.SGD(model, lr=0.1, momentum=0.9)
    first = None
    for _ in range(40):
        loss = loss_fn.forward(model.forward(x), y)
        first = loss if first is None else first
        model.backward(loss_fn.backward())
        opt.step()
    assert loss < 0.2 * first


@pytest.mark.parametrize("call,match", [
    (lambda: nn.Conv2d(3, 4, 3).forward(np.zeros((3, 8, 8), np.float32)), "batch dimension"),
    (lambda: nn.Conv2d(3, 4, 3).forward(np.zeros((1, 2, 8, 8), np.float32)), "input channels"),
    (lambda: nn.Conv2d(3, 4, 5).forward(np.zeros((1, 3, 3, 3), np.float32)), "does not fit"),
    (lambda: nn.Conv2d(3, 4, 3).forward(np.zeros((1, 3, 8, 8), np.int64)), "floats"),
    (lambda: nn.Conv2d(3, 4, 3).backward(np.zeros((1, 4, 6, 6))), "before forward"),
    (lambda: nn.Conv2d(1, 1, 0), "kernel_size >= 1"),
    (lambda: nn.Linear(5, 2).forward(np.zeros((2, 4), np.float32)), "input features"),
    (lambda: nn.MaxPool2d(3, padding=2), "padding"),
    (lambda: nn.MaxPool2d(4).forward(np.zeros((1, 1, 3, 3))), "larger than the input"),
    (lambda: nn.SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3])), r"\[0, 2\]"),
    (lambda: nn.SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.eye(3)[:2]), "one-hot"),
    (lambda: nn.SGD(nn.Sequential(), lr=-1), "lr > 0"),
    (lambda: nn.correlate2d(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3))), "channels"),
    (lambda: nn.correlate2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))), "larger than the input"),
    (lambda: nn.dilate(np.zeros((3, 3)), 2), "4-D"),
    (lambda: nn.log_softmax(np.zeros(3)), "2-D"),
])
def test_bad_inputs_raise_helpful_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_backward_checks_gradient_shape():
    conv = nn.Conv2d(1, 2, 3)
    conv.forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        conv.backward(np.zeros((1, 2, 4, 4), np.float32))


def test_layers_carry_pytorchs_names():
    """The README's glossary promises PyTorch's names, so code moves between numpy_nn and torch.nn."""
    layers = [obj for obj in vars(nn).values()
              if isinstance(obj, type) and issubclass(obj, nn.Layer) and obj is not nn.Layer]
    assert {cls.__name__ for cls in layers} == {"Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"}
    for cls in layers + [nn.Sequential]:
        assert isinstance(getattr(torch.nn, cls.__name__, None), type), f"torch.nn has no {cls.__name__}"
    assert nn.SGD.__name__ in vars(torch.optim)
