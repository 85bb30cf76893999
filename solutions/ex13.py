"""Reference solutions to notebook 13's exercises."""

import collections


def layer_norm(x, weight, bias, eps):
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1): one mean per vector
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased, as nn.LayerNorm
    return (x - mean) / (var + eps).sqrt() * weight + bias


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
