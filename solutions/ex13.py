"""Reference solutions to notebook 13's exercises."""

import collections


def rms_norm(x, weight, eps):
    rms = ((x ** 2).mean(dim=-1, keepdim=True) + eps).sqrt()  # (..., 1): one root mean square per vector
    return x / rms * weight  # no mean subtracted, no bias


def rms_norm_backward(x, weight, eps, grad_output):
    rms = ((x ** 2).mean(dim=-1, keepdim=True) + eps).sqrt()  # (..., 1)
    xhat = x / rms
    g = grad_output * weight  # dL/dxhat
    # xhat_j = x_j / r with dr/dx_i = x_i / (E r): the direct path minus the path through r
    grad_input = (g - xhat * (g * xhat).mean(dim=-1, keepdim=True)) / rms
    grad_weight = (grad_output * xhat).reshape(-1, x.shape[-1]).sum(dim=0)
    return grad_input, grad_weight


def transformer_params(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward):
    attention = 4 * d_model * d_model + 4 * d_model  # W_Q, W_K, W_V, W_O and their biases
    feed_forward = 2 * d_model * dim_feedforward + dim_feedforward + d_model  # two linear layers
    norm = 2 * d_model  # weight and bias
    encoder_layer = attention + feed_forward + 2 * norm
    decoder_layer = 2 * attention + feed_forward + 3 * norm
    final_norms = 2 * norm  # nn.Transformer puts a LayerNorm after each stack
    return num_encoder_layers * encoder_layer + num_decoder_layers * decoder_layer + final_norms


def beam_step(scores, log_probs, beam_size):
    batch, k, vocab = log_probs.shape
    extended = (scores[:, :, None] + log_probs).reshape(batch, k * vocab)  # (B, k * V)
    new_scores, index = extended.topk(beam_size, dim=1)  # (B, beam_size), best first
    return new_scores, index // vocab, index % vocab


def clipped_precision(hypothesis, references, n):
    def ngrams(tokens):
        return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    counts = ngrams(hypothesis)
    most = collections.Counter()
    for ref in references:
        most |= ngrams(ref)  # the largest count of each n-gram in any one reference
    matched = sum(min(count, most[gram]) for gram, count in counts.items())
    return matched, max(len(hypothesis) - n + 1, 0)
