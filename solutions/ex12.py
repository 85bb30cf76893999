"""Reference solutions to notebook 12's exercises."""

import math

import torch


def attend(q, k, v):
    scores = q @ k.T / math.sqrt(q.shape[-1])  # (T, S): one row per query
    scores = scores - scores.max(dim=1, keepdim=True).values  # stable: the largest score of each row is 0
    weights = scores.exp() / scores.exp().sum(dim=1, keepdim=True)  # each row adds up to 1
    return weights @ v, weights


def padded_batch_mask(lengths, max_len, causal):
    real = torch.arange(max_len)[None, :] < lengths[:, None]  # (B, T): True for real tokens
    mask = real[:, None, :].expand(len(lengths), max_len, max_len)  # (B, T, T): the same keys for every query
    if causal:
        mask = mask & torch.ones(max_len, max_len, dtype=torch.bool).tril()  # key j <= query i
    return mask


def mha_params(embed_dim, num_heads, kdim, vdim, bias):
    weights = embed_dim * embed_dim + embed_dim * kdim + embed_dim * vdim + embed_dim * embed_dim
    return weights + (4 * embed_dim if bias else 0)


def relative_offset(pe_p, pe_q):
    embed_dim = pe_p.shape[-1]
    omega = 10000 ** (-(embed_dim - 2) / embed_dim)  # the slowest circle: it does not wrap for these offsets
    angle_p = math.atan2(float(pe_p[-2]), float(pe_p[-1]))
    angle_q = math.atan2(float(pe_q[-2]), float(pe_q[-1]))
    delta = (angle_q - angle_p + math.pi) % (2 * math.pi) - math.pi  # wrapped into [-pi, pi)
    return round(delta / omega)


attention_by_hand = attend  # the answer under the exercise's name
