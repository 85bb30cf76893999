"""Checkers for notebook 13 (the Transformer)."""

import collections
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect


@checker(hint="Which dimension does layer normalisation average over, and which one does batch "
              "normalisation average over? Look at nn.LayerNorm's documentation for the variance it uses.")
def check_layer_norm(layer_norm):
    """``layer_norm(x, weight, bias, eps)``: normalise over the last dimension, then scale and shift."""
    gen = torch.Generator().manual_seed(13)
    for shape in [(4, 8), (2, 3, 16), (5, 1, 2, 6)]:
        x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 4 + 2
        weight = torch.randn(shape[-1], generator=gen, dtype=torch.float64)
        bias = torch.randn(shape[-1], generator=gen, dtype=torch.float64)
        for eps in (1e-5, 0.5):
            out = layer_norm(x, weight, bias, eps)
            if out is None:
                raise NotAttempted()
            expect(out, F.layer_norm(x, (shape[-1],), weight, bias, eps),
                   f"layer_norm of a {tuple(shape)} input with eps={eps}", rtol=1e-7, atol=1e-9)


@checker(hint="Count the pieces once each (an attention block, a feed-forward block, a layer norm), "
              "then count how many of each an encoder layer and a decoder layer hold. Print nn.Transformer "
              "to see whether anything sits outside the layers.")
def check_transformer_params(transformer_params):
    """``transformer_params(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward)``:
    the parameter count of ``nn.Transformer`` with these sizes."""
    for sizes in [(512, 8, 6, 6, 2048), (128, 4, 2, 2, 512), (24, 4, 1, 4, 10), (8, 2, 3, 0, 16)]:
        with warnings.catch_warnings():  # PyTorch's notes about its fast path are not for the learner
            warnings.simplefilter("ignore")
            reference = nn.Transformer(*sizes, batch_first=True)
        expected = sum(p.numel() for p in reference.parameters())
        got = as_int(transformer_params(*sizes), f"transformer_params{sizes}")
        if got != expected:
            raise ExerciseError(f"nn.Transformer{sizes} has {expected:,} parameters, your formula gives {got:,}")


def _beam_step_oracle(scores, log_probs, beam_size):
    """Every (beam, token) extension scored one by one, sorted, the best ``beam_size`` kept."""
    batch, k, vocab = log_probs.shape
    out_scores = torch.empty(batch, beam_size, dtype=scores.dtype)
    out_beam = torch.empty(batch, beam_size, dtype=torch.int64)
    out_token = torch.empty(batch, beam_size, dtype=torch.int64)
    for b in range(batch):
        extensions = [(float(scores[b, i] + log_probs[b, i, v]), i, v) for i in range(k) for v in range(vocab)]
        extensions.sort(key=lambda e: -e[0])
        for r, (score, i, v) in enumerate(extensions[:beam_size]):
            out_scores[b, r], out_beam[b, r], out_token[b, r] = score, i, v
    return out_scores, out_beam, out_token


@checker(hint="A hypothesis' score plus a token's log-probability scores one extension: make all "
              "k * V of them at once with broadcasting, then find the best ones in one call. How do you get "
              "back from a position in a flattened (k * V) row to a beam and a token?")
def check_beam_step(beam_step):
    """``beam_step(scores (B, k), log_probs (B, k, V), beam_size)`` ->
    ``(new_scores (B, beam_size), beam (B, beam_size), token (B, beam_size))``, best first."""
    gen = torch.Generator().manual_seed(14)
    for batch, k, vocab, beam_size in [(1, 1, 5, 3), (2, 3, 7, 3), (3, 4, 6, 2)]:
        scores = torch.randn(batch, k, generator=gen, dtype=torch.float64) * 3
        log_probs = torch.log_softmax(torch.randn(batch, k, vocab, generator=gen, dtype=torch.float64), -1)
        answer = beam_step(scores, log_probs, beam_size)
        if answer is None:
            raise NotAttempted()
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            raise ExerciseError("return three tensors: (new_scores, beam, token)")
        new_scores, beam, token = answer
        want_scores, want_beam, want_token = _beam_step_oracle(scores, log_probs, beam_size)
        what = f"beam_step with B={batch}, k={k}, V={vocab}, beam_size={beam_size}"
        expect(new_scores, want_scores, f"{what}: new_scores", rtol=1e-9, atol=1e-12)
        for name, got, want in (("beam", beam, want_beam), ("token", token, want_token)):
            if not isinstance(got, torch.Tensor) or not torch.equal(got.long(), want):
                raise ExerciseError(f"{what}: {name} should be {want.tolist()}, got "
                                    f"{got.tolist() if isinstance(got, torch.Tensor) else got!r}")


def _clipped_oracle(hypothesis, references, n):
    grams = collections.Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    most = collections.Counter()
    for ref in references:
        for gram, count in collections.Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)).items():
            most[gram] = max(most[gram], count)
    return sum(min(c, most[g]) for g, c in grams.items()), max(len(hypothesis) - n + 1, 0)


@checker(hint="'the the the' against the reference 'the cat': how many of the three 'the' should "
              "count as matched? Now give the same sentence a second reference that says 'the' twice.")
def check_clipped_precision(clipped_precision):
    """``clipped_precision(hypothesis, references, n)`` -> ``(matched, total)`` n-grams of BLEU's
    modified precision (Papineni et al., 2002), with several references."""
    cases = [
        ("the the the the".split(), ["the cat is on the mat".split(), "there is a cat on the mat".split()], 1),
        ("the the the".split(), ["the cat".split(), "the the dog".split()], 1),
        ("il est calme .".split(), ["il est calme .".split()], 2),
        ("je suis chez moi .".split(), ["je suis à la maison .".split(), "je suis chez moi !".split()], 2),
        ("a b a b a b".split(), ["a b a".split(), "b a b".split()], 2),
        ("a b".split(), ["a b c".split()], 3),
    ]
    for hypothesis, references, n in cases:
        answer = clipped_precision(hypothesis, references, n)
        if answer is None:
            raise NotAttempted()
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise ExerciseError("return two integers: (matched, total)")
        want = _clipped_oracle(hypothesis, references, n)
        got = tuple(as_int(a, "a count") for a in answer)
        if got != want:
            raise ExerciseError(f"{n}-grams of {' '.join(hypothesis)!r} against {len(references)} references: "
                                f"expected (matched, total) = {want}, got {got}")
