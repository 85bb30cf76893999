"""Checkers for notebook 13 (the Transformer)."""

import collections
import contextlib
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function

_NORM_CASES = [(4, 8), (2, 3, 16), (5, 1, 2, 6)]


class _Refused(Exception):
    pass


@contextlib.contextmanager
def _without_rms_norm():
    """PyTorch's own RMSNorm refuses to run while the learner's answer does (the exercise is to write it)."""
    def refuse(*args, **kwargs):
        raise _Refused()

    saved = F.rms_norm
    F.rms_norm = refuse
    try:
        yield
    except _Refused:
        raise ExerciseError("your answer calls F.rms_norm (or nn.RMSNorm): write it yourself") from None
    finally:
        F.rms_norm = saved


def _norm_inputs(shape, gen):
    x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 4 + 2  # a mean far from 0
    return x, torch.randn(shape[-1], generator=gen, dtype=torch.float64)


@checker(hint=(
    "Which statistics of each feature vector does layer normalisation use? RMSNorm keeps one of them and drops "
    "the other, and keeps one of the two learned vectors: which?",
    "RMSNorm (Zhang and Sennrich, 2019) divides each vector along its last dimension by its root mean square, "
    "the square root of the mean of its squares plus eps, then multiplies by the weight: no mean is subtracted "
    "and there is no bias.",
    "x / torch.sqrt((x ** 2).mean(dim=-1, keepdim=True) + eps) * weight.",
))
def check_rms_norm(rms_norm):
    """``rms_norm(x, weight, eps)``: ``F.rms_norm(x, (E,), weight, eps)`` over the last dimension."""
    gen = torch.Generator().manual_seed(13)
    for shape in _NORM_CASES:
        x, weight = _norm_inputs(shape, gen)
        for eps in (1e-6, 0.5):
            expected = F.rms_norm(x, (shape[-1],), weight, eps)
            with _without_rms_norm():
                out = rms_norm(x.clone(), weight.clone(), eps)
            if out is None:
                raise NotAttempted()
            expect(out, expected, f"rms_norm of a {tuple(shape)} input with eps={eps}", rtol=1e-7, atol=1e-9)


@checker(hint=(
    "Through how many paths does one input x_i reach an output y_j: directly, and through what else that every "
    "output of the vector shares?",
    "Write y = weight * x / r with r = sqrt(mean(x^2) + eps). x_i reaches y_j directly (when i = j) and through "
    "r, which every output of its vector shares, with dr/dx_i = x_i / (E r): add the two paths. The weight's "
    "gradient adds up the upstream gradient times x / r over every position but the last dimension.",
    "xhat = x / r; gy = grad_output * weight; grad_input = (gy - xhat * (gy * xhat).mean(dim=-1, keepdim=True)) "
    "/ r; grad_weight = (grad_output * xhat).reshape(-1, E).sum(dim=0).",
))
def check_rms_norm_backward(rms_norm_backward):
    """``rms_norm_backward(x, weight, eps, grad_output)`` -> ``(grad_input, grad_weight)`` of
    ``F.rms_norm(x, (E,), weight, eps)``, without autograd."""
    gen = torch.Generator().manual_seed(14)
    for shape in _NORM_CASES:
        x, weight = _norm_inputs(shape, gen)
        for eps in (1e-6, 0.5):
            xt, wt = x.clone().requires_grad_(True), weight.clone().requires_grad_(True)
            grad_output = torch.randn(shape, generator=gen, dtype=torch.float64)
            F.rms_norm(xt, (shape[-1],), wt, eps).backward(grad_output)
            with torch.no_grad(), _without_rms_norm():  # the answer's own arithmetic, no autograd
                answer = rms_norm_backward(x.clone(), weight.clone(), eps, grad_output.clone())
            if answer is None:
                raise NotAttempted()
            if not isinstance(answer, (tuple, list)) or len(answer) != 2:
                raise ExerciseError("return two tensors: (grad_input, grad_weight)")
            what = f"for a {tuple(shape)} input with eps={eps} (compared with autograd)"
            expect(answer[0], xt.grad, f"grad_input {what}", rtol=1e-7, atol=1e-9)
            expect(answer[1], wt.grad, f"grad_weight {what}", rtol=1e-7, atol=1e-9)


@checker(hint=(
    "Count the pieces once each (an attention block, a feed-forward block, a layer norm), then count how many "
    "of each an encoder layer and a decoder layer hold. Print nn.Transformer to see whether anything sits "
    "outside the layers.",
    "An attention block has four d_model x d_model projections with biases; a feed-forward block two linear "
    "layers (d_model -> dim_feedforward -> d_model) with biases; a layer norm a scale and a shift per feature. "
    "An encoder layer holds one attention, one feed-forward and two norms; a decoder layer two attentions (self "
    "and cross), one feed-forward and three norms; and each stack ends with a layer norm of its own.",
    "attention = 4 d^2 + 4 d; feed_forward = 2 d f + f + d; norm = 2 d; encoder layer = attention + "
    "feed_forward + 2 norm; decoder layer = 2 attention + feed_forward + 3 norm; total = N_enc * encoder layer "
    "+ N_dec * decoder layer + 2 norm (nhead does not appear).",
))
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


@checker(hint=(
    "Per sentence there are k * V possible extensions, each with a score. Which of them compete with which, and "
    "what must you remember about each winner?",
    "A prefix's score plus a token's log-probability scores one extension: add them by broadcasting into a "
    "(B, k, V) table. All k * V extensions of a sentence compete together, so flatten each sentence's table "
    "into one row, take its beam_size largest entries in order, and recover the prefix and the token from each "
    "winner's position in the row (position = beam * V + token).",
    "extended = (scores[:, :, None] + log_probs).reshape(B, k * V); new_scores, index = extended.topk(beam_size, "
    "dim=1); return new_scores, index // V, index % V.",
))
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


@checker(hint=(
    "'the the the' against the reference 'the cat': how many of the three 'the' should count as matched? Now "
    "give the same sentence a second reference that says 'the' twice.",
    "Count each distinct n-gram of the hypothesis, but credit it at most as many times as it occurs in any "
    "single reference: the clip is its largest count within one reference, not the sum over the references. "
    "Matched is the sum of the clipped counts; total is the number of n-grams in the hypothesis.",
    "counts = Counter of the hypothesis' n-grams; most[g] = max over the references of g's count in that "
    "reference; matched = sum(min(c, most[g]) for g, c in counts.items()); total = max(len(hypothesis) - n + 1, "
    "0).",
))
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


hint = hint_function(__name__)
