"""Reference solutions to notebook 05's exercises (NumPy only)."""

import numpy as np

from course_utils import numpy_nn


def linear_backward(x, weight, grad_output):
    grad_input = grad_output @ weight  # (N, out) @ (out, in) -> (N, in)
    grad_weight = grad_output.T @ x  # (out, N) @ (N, in) -> (out, in)
    grad_bias = grad_output.sum(axis=0)  # (out,)
    return grad_input, grad_weight, grad_bias


which_gradient_is_wrong = "grad_input"


class Conv2dWithMyBackward(numpy_nn.Conv2d):
    """The scatter view: kernel offset (u, v) met input pixel (i*s + u, j*s + v) in output (i, j)."""

    def backward(self, grad_output):
        x_pad = self._x_padded  # (N, C, H + 2p, W + 2p), kept by forward
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, _, ho, wo = grad_output.shape
        self.grad_bias[...] = grad_output.sum(axis=(0, 2, 3)) if self.use_bias else 0
        grad_x_pad = np.zeros_like(x_pad)
        for u in range(kh):
            for v in range(kw):
                rows = slice(u, u + sh * (ho - 1) + 1, sh)  # the input rows offset u met, one per output row
                cols = slice(v, v + sw * (wo - 1) + 1, sw)
                patch = x_pad[:, :, rows, cols]  # (N, C, H_out, W_out)
                self.grad_weight[:, :, u, v] = np.einsum("nfij,ncij->fc", grad_output, patch)
                grad_x_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", grad_output, self.weight[:, :, u, v])
        h, w = self._in_shape[2:]
        return grad_x_pad[:, :, ph:ph + h, pw:pw + w]  # the padding zeros are constants: drop their gradient


conv2d_backward = Conv2dWithMyBackward  # the answer under the exercise's name
