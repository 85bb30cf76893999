"""course_utils.conv against PyTorch's operators and autograd.

Each reference function passes a check over many random configurations, and
the same check rejects a planted wrong implementation (the kind of bug a
learner writes), so the check is shown able to fail.
"""

import random

import pytest
import torch
import torch.nn.functional as F

from course_utils import conv
from course_utils.checks import assert_close

DT = torch.float64


def random_conv_configs(n, seed=0):
    """Random (x, weight, bias, stride, padding, dilation), always a valid conv."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        sh, sw = rng.randint(1, 3), rng.randint(1, 3)
        ph, pw = rng.randint(0, 2), rng.randint(0, 2)
        dh, dw = rng.randint(1, 2), rng.randint(1, 2)
        h = max(dh * (kh - 1) + 1 - 2 * ph, 1) + rng.randint(0, 7)
        w = max(dw * (kw - 1) + 1 - 2 * pw, 1) + rng.randint(0, 7)
        c_in, c_out, batch = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 2)
        x = torch.randn(batch, c_in, h, w, generator=gen, dtype=DT)
        weight = torch.randn(c_out, c_in, kh, kw, generator=gen, dtype=DT)
        bias = torch.randn(c_out, generator=gen, dtype=DT) if rng.random() < 0.5 else None
        yield x, weight, bias, (sh, sw), (ph, pw), (dh, dw)


def random_pool_configs(n, seed=0):
    """Random (x, kernel_size, stride, padding) that F.max_pool2d accepts."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        sh, sw = rng.randint(1, 3), rng.randint(1, 3)
        ph, pw = rng.randint(0, kh // 2), rng.randint(0, kw // 2)
        h, w = kh + rng.randint(0, 6), kw + rng.randint(0, 6)
        x = torch.randn(rng.randint(1, 2), rng.randint(1, 3), h, w, generator=gen, dtype=DT)
        yield x, (kh, kw), (sh, sw), (ph, pw)


# ---------------------------------------------------------------------------
# The checks (the same comparisons the notebooks assert)
# ---------------------------------------------------------------------------


def check_single_channel(fn, n=40):
    for x, weight, _, _, _, _ in random_conv_configs(n):
        img, k = x[0, 0], weight[0, 0]
        if k.shape[0] > img.shape[0] or k.shape[1] > img.shape[1]:
            continue
        assert_close(fn(img, k), F.conv2d(img[None, None], k[None, None])[0, 0], msg=fn.__name__)


def check_multi_in(fn, n=30):
    for x, weight, _, _, _, _ in random_conv_configs(n, seed=1):
        img, k = x[0], weight[0]
        if k.shape[1] > img.shape[1] or k.shape[2] > img.shape[2]:
            continue
        assert_close(fn(img, k), F.conv2d(img[None], k[None])[0, 0], msg=fn.__name__)


def check_multi_in_out(fn, n=30):
    for x, weight, _, _, _, _ in random_conv_configs(n, seed=2):
        img = x[0]
        if weight.shape[2] > img.shape[1] or weight.shape[3] > img.shape[2]:
            continue
        assert_close(fn(img, weight), F.conv2d(img[None], weight)[0], msg=fn.__name__)


def check_conv2d(fn, n=60):
    for x, weight, bias, stride, padding, dilation in random_conv_configs(n, seed=3):
        expected = F.conv2d(x, weight, bias, stride, padding, dilation)
        assert_close(fn(x, weight, bias, stride, padding, dilation), expected,
                     msg=f"stride={stride} padding={padding} dilation={dilation}")


def check_im2col(fn, n=40):
    for x, weight, _, stride, padding, dilation in random_conv_configs(n, seed=4):
        k = tuple(weight.shape[2:])
        assert_close(fn(x, k, stride, padding, dilation), F.unfold(x, k, dilation, padding, stride))


def check_col2im(fn, n=40):
    for x, weight, _, stride, padding, dilation in random_conv_configs(n, seed=5):
        k = tuple(weight.shape[2:])
        cols = torch.randn_like(F.unfold(x, k, dilation, padding, stride))
        size = tuple(x.shape[2:])
        assert_close(fn(cols, size, k, stride, padding, dilation), F.fold(cols, size, k, dilation, padding, stride))


def check_max_pool(fn, n=60):
    for x, k, s, p in random_pool_configs(n):
        out, idx = fn(x, k, s, p, return_indices=True)
        ref, ref_idx = F.max_pool2d(x, k, s, p, return_indices=True)
        assert_close(out, ref, msg=f"max_pool2d k={k} s={s} p={p}")
        assert torch.equal(idx, ref_idx), f"arg-max indices differ for k={k} s={s} p={p}"


def check_avg_pool(fn, n=60):
    for x, k, s, p in random_pool_configs(n, seed=1):
        assert_close(fn(x, k, s, p), F.avg_pool2d(x, k, s, p), msg=f"avg_pool2d k={k} s={s} p={p}")


def check_max_pool_backward(fn, n=60):
    for x, k, s, p in random_pool_configs(n, seed=2):
        x = x.clone().requires_grad_(True)
        out, idx = F.max_pool2d(x, k, s, p, return_indices=True)
        grad_out = torch.randn_like(out)
        out.backward(grad_out)
        assert_close(fn(grad_out, idx, tuple(x.shape[2:])), x.grad, msg=f"max-pool backward k={k} s={s} p={p}")


def check_avg_pool_backward(fn, n=60):
    for x, k, s, p in random_pool_configs(n, seed=3):
        x = x.clone().requires_grad_(True)
        out = F.avg_pool2d(x, k, s, p)
        grad_out = torch.randn_like(out)
        out.backward(grad_out)
        assert_close(fn(grad_out, tuple(x.shape[2:]), k, s, p), x.grad, msg=f"avg-pool backward k={k} s={s} p={p}")


# ---------------------------------------------------------------------------
# The reference passes ...
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("check,fn", [
    (check_single_channel, conv.corr2d),
    (check_single_channel, conv.corr2d_vectorised),
    (check_multi_in, conv.corr2d_multi_in),
    (check_multi_in_out, conv.corr2d_multi_in_out),
    (check_conv2d, conv.conv2d_im2col),
    (check_im2col, conv.im2col),
    (check_col2im, conv.col2im),
    (check_max_pool, conv.max_pool2d),
    (check_avg_pool, conv.avg_pool2d),
    (check_max_pool_backward, conv.max_pool2d_backward),
    (check_avg_pool_backward, conv.avg_pool2d_backward),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_reference_matches_pytorch(check, fn):
    check(fn)


# ---------------------------------------------------------------------------
# ... and planted bugs do not
# ---------------------------------------------------------------------------


def corr2d_flipped(x, k):  # true convolution where cross-correlation is meant
    return conv.corr2d(x, torch.flip(k, (0, 1)))


def corr2d_off_by_one(x, k):  # the output loops stop one row and one column early
    kh, kw = k.shape
    out = x.new_zeros(x.shape[0] - kh, x.shape[1] - kw)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * k).sum()
    return out


def corr2d_vectorised_swapped_offsets(x, k):  # shifts rows by the column offset and vice versa
    kh, kw = k.shape
    out_h, out_w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = x.new_zeros(out_h, out_w)
    for a in range(kh):
        for b in range(kw):
            top, left = min(b, x.shape[0] - out_h), min(a, x.shape[1] - out_w)
            out = out + k[a, b] * x[top:top + out_h, left:left + out_w]
    return out


def multi_in_mean(x, k):  # averages the channels instead of summing them
    return conv.corr2d_multi_in(x, k) / x.shape[0] if x.shape[0] > 1 else conv.corr2d_multi_in(x, k) * 0.5


def multi_in_out_first_kernel(x, k):  # reuses the first filter for every output channel
    return torch.stack([conv.corr2d_multi_in(x, k[0]) for _ in k])


def conv_bias_per_position(x, w, b, stride, padding, dilation):  # adds the bias twice
    out = conv.conv2d_im2col(x, w, b, stride, padding, dilation)
    return out if b is None else out + b[:, None, None]


def im2col_wrong_row_order(x, k, stride, padding, dilation):  # rows ordered (a, b, c), not (c, a, b)
    cols = conv.im2col(x, k, stride, padding, dilation)
    n, c = x.shape[:2]
    return cols.reshape(n, c, k[0] * k[1], -1).transpose(1, 2).reshape(n, c * k[0] * k[1], -1)


def col2im_overwrites(cols, size, k, stride, padding, dilation):  # overlapping windows overwrite, not add
    n, rows, _ = cols.shape
    c = rows // (k[0] * k[1])
    ones = torch.ones(n, c, *size, dtype=cols.dtype)
    overlap = conv.col2im(conv.im2col(ones, k, stride, padding, dilation), size, k, stride, padding, dilation)
    return conv.col2im(cols, size, k, stride, padding, dilation) / overlap.clamp_min(1)


def max_pool_zero_padding(x, k, s, p, return_indices=True):  # pads with 0 instead of -inf
    xp = F.pad(x, (p[1], p[1], p[0], p[0]))
    out, idx = conv.max_pool2d(xp, k, s, 0, return_indices=True)
    return out, idx


def avg_pool_excludes_padding(x, k, s, p):  # divides by the number of real pixels
    ones = torch.ones_like(x)
    return conv.avg_pool2d(x, k, s, p) / conv.avg_pool2d(ones, k, s, p)


def max_backward_spreads(grad_out, idx, size):  # spreads like average pooling
    return grad_out.new_zeros(*grad_out.shape[:2], *size) + grad_out.mean()


def max_backward_forgets_overlap(grad_out, idx, size):  # writes instead of accumulating
    n, c = grad_out.shape[:2]
    g = grad_out.new_zeros(n, c, size[0] * size[1])
    g.scatter_(2, idx.reshape(n, c, -1), grad_out.reshape(n, c, -1))
    return g.reshape(n, c, *size)


def avg_backward_undivided(grad_out, size, k, s, p):  # forgets to divide by the window size
    return conv.avg_pool2d_backward(grad_out, size, k, s, p) * (k[0] * k[1])


def conv_no_dilation(x, w, b, stride, padding, dilation):
    return conv.conv2d_im2col(x, w, b, stride, padding, 1)


@pytest.mark.parametrize("check,wrong", [
    (check_single_channel, corr2d_flipped),
    (check_single_channel, corr2d_off_by_one),
    (check_single_channel, corr2d_vectorised_swapped_offsets),
    (check_multi_in, multi_in_mean),
    (check_multi_in_out, multi_in_out_first_kernel),
    (check_conv2d, conv_bias_per_position),
    (check_conv2d, conv_no_dilation),
    (check_im2col, im2col_wrong_row_order),
    (check_col2im, col2im_overwrites),
    (check_max_pool, max_pool_zero_padding),
    (check_avg_pool, avg_pool_excludes_padding),
    (check_max_pool_backward, max_backward_spreads),
    (check_max_pool_backward, max_backward_forgets_overlap),
    (check_avg_pool_backward, avg_backward_undivided),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_check_catches_planted_bug(check, wrong):
    with pytest.raises(AssertionError):  # from assert_close: values or shape differ
        check(wrong)


# ---------------------------------------------------------------------------
# More properties
# ---------------------------------------------------------------------------


def test_convolve2d_flips_the_kernel():
    x = torch.randn(7, 6, dtype=DT)
    k = torch.randn(3, 2, dtype=DT)
    assert_close(conv.convolve2d(x, k), F.conv2d(x[None, None], k.flip(0, 1)[None, None])[0, 0])
    with pytest.raises(AssertionError):
        assert_close(conv.convolve2d(x, k), conv.corr2d(x, k))


def test_conv2d_im2col_gradients_match_autograd_of_F_conv2d():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 7, dtype=DT, generator=gen)
    w = torch.randn(4, 3, 3, 2, dtype=DT, generator=gen)
    b = torch.randn(4, dtype=DT, generator=gen)
    args = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2))
    grads = []
    for fn in (conv.conv2d_im2col, F.conv2d):
        leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]
        out = fn(*leaves, **args)
        out.backward(torch.ones_like(out) * torch.arange(out.numel(), dtype=DT).reshape(out.shape).cos())
        grads.append([t.grad for t in leaves])
    for mine, ref, name in zip(*grads, ("x", "weight", "bias")):
        assert_close(mine, ref, msg=f"gradient w.r.t. {name}")


def test_max_pool_gradient_goes_to_the_argmax_only():
    x = torch.tensor([[[[1., 5., 2., 0.], [3., 4., 9., 8.], [0., 1., 2., 3.], [7., 1., 1., 6.]]]])
    out, idx = conv.max_pool2d(x, 2, return_indices=True)
    assert out.flatten().tolist() == [5., 9., 7., 6.]
    grad = conv.max_pool2d_backward(torch.ones_like(out), idx, (4, 4))
    assert grad.sum() == 4 and grad[0, 0, 0, 1] == 1 and grad[0, 0, 1, 2] == 1 and grad[0, 0, 3, 0] == 1


@pytest.mark.parametrize("call,match", [
    (lambda: conv.corr2d(torch.randn(1, 5, 5), torch.randn(3, 3)), "2-D"),
    (lambda: conv.corr2d(torch.randn(3, 3), torch.randn(4, 2)), "larger than the input"),
    (lambda: conv.corr2d_vectorised(torch.randn(5, 5).long(), torch.randn(3, 3)), "floats"),
    (lambda: conv.corr2d_multi_in(torch.randn(3, 5, 5), torch.randn(2, 3, 3)), "channels"),
    (lambda: conv.corr2d_multi_in_out(torch.randn(3, 5, 5), torch.randn(4, 2, 3, 3)), "in_channels"),
    (lambda: conv.conv2d_im2col(torch.randn(3, 8, 8), torch.randn(4, 3, 3, 3)), "unsqueeze"),
    (lambda: conv.conv2d_im2col(torch.randn(1, 3, 8, 8), torch.randn(4, 2, 3, 3)), "in_channels"),
    (lambda: conv.conv2d_im2col(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 7, 7), padding=1), "padding"),
    (lambda: conv.conv2d_im2col(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3), dilation=2), "dilated"),
    (lambda: conv.conv2d_im2col(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), stride=0), "stride"),
    (lambda: conv.conv2d_im2col(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(3)), "bias"),
    (lambda: conv.max_pool2d(torch.randn(1, 3, 8, 8), 2, padding=2), "half the kernel"),
    (lambda: conv.max_pool2d(torch.randn(3, 8, 8), 2), "4-D"),
    (lambda: conv.avg_pool2d(torch.randn(1, 1, 2, 2), 3), "larger than the input"),
    (lambda: conv.max_pool2d_backward(torch.randn(1, 1, 2, 2), torch.zeros(1, 1, 3, 3).long(), (4, 4)), "indices"),
    (lambda: conv.avg_pool2d_backward(torch.randn(1, 1, 3, 3), (4, 4), 2), "gives a different size"),
    (lambda: conv.col2im(torch.randn(1, 5, 9), (4, 4), 2), "does not fit"),
])
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
