"""Reference solutions to notebook 15's exercises."""

import math

import torch


def apply_merges(word, merges):
    for a, b in merges:  # in the order they were learned
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = tuple(merged)
    return word


def nucleus(probs, p):
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (B, V), most likely first
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V): mass of the more likely tokens
    keep = before < p
    return torch.zeros_like(keep).scatter(-1, order, keep)  # back to vocabulary order


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, tokens, batch_size, bytes_per_value):
    return 2 * num_layers * num_kv_heads * head_dim * tokens * batch_size * bytes_per_value  # a key and a value


def bits_per_character(perplexity, num_tokens, num_characters):
    return math.log2(perplexity) * num_tokens / num_characters  # bits per token x tokens per character
