"""Tokenizers for notebook 15: characters, and byte-pair encoding (BPE) trained from scratch.

- :class:`CharTokenizer`: one id per distinct character of a text (Tiny
  Shakespeare has 65). Nothing to learn; a character it has not seen is an
  error, not an ``<unk>``.
- :func:`pair_counts`, :func:`merge_pair` and :func:`learn_merges`: the BPE
  merge loop of Sennrich, Haddow & Birch (2016), "Neural Machine Translation
  of Rare Words with Subword Units", section 3.2 and Algorithm 1: count the
  adjacent pairs of symbols in a dictionary of words (each word weighted by
  its frequency), merge the most frequent pair everywhere into a new symbol,
  repeat. :func:`learn_merges` keeps the pair counts up to date instead of
  recounting them after every merge, so a few hundred merges over Tiny
  Shakespeare take about a second; it picks the same pair as the plain loop
  at every step (ties go to the pair that occurs first, reading the words in
  order: what ``max(counts, key=counts.get)`` does over counts gathered in
  that order), which the tests check.
- :class:`ByteBPE`: byte-level BPE as in GPT-2 (Radford et al., 2019,
  section 2.2): the symbols are the 256 byte values of the UTF-8 text, so
  every string is encodable and nothing is unknown, and merges never cross
  the boundaries of the chunks a regular expression cuts the text into
  (letters, digits, punctuation, each with the space before it). Token ids
  ``0..255`` are the bytes, id ``256 + i`` the ``i``-th merge.

Every tokenizer offers ``encode(text) -> list of ids``, ``decode(ids) -> text``
and ``vocab_size``.
"""

import collections
import json
import re

# ---------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------


class CharTokenizer:
    """One id per distinct character of ``text``, in sorted order (as nanoGPT's
    ``shakespeare_char``: ``"\\n"`` is 0, ``" "`` is 1, ...)."""

    def __init__(self, text):
        if not isinstance(text, str) or not text:
            raise ValueError("CharTokenizer needs a non-empty string to take its characters from")
        self.itos = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        """``text`` -> list of ids; a character outside the vocabulary raises ``ValueError``."""
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as err:
            unknown = sorted(set(text) - set(self.stoi))
            raise ValueError(f"characters {unknown[:10]} are not in this tokenizer's {self.vocab_size}-character "
                             f"vocabulary (first unknown: {err.args[0]!r}); a character tokenizer cannot encode "
                             "characters its text never had: build it from a text that has them, or use ByteBPE, "
                             "which encodes any string") from None

    def decode(self, ids):
        """List (or 1-D tensor) of ids -> text."""
        ids = _as_id_list(ids)
        _check_range(ids, self.vocab_size)
        return "".join(self.itos[i] for i in ids)

    def __repr__(self):
        return f"CharTokenizer({self.vocab_size} characters)"


def _as_id_list(ids):
    if hasattr(ids, "tolist"):  # a tensor or an array
        if getattr(ids, "ndim", 1) != 1:
            raise ValueError(f"decode takes one sequence of ids (1-D), got shape {tuple(ids.shape)}: decode each "
                             "row on its own")
        ids = ids.tolist()
    ids = list(ids)
    if not all(isinstance(i, int) for i in ids):
        raise ValueError("ids must be integers")
    return ids


def _check_range(ids, vocab_size):
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"ids {bad[:5]} are outside this tokenizer's vocabulary [0, {vocab_size}): were they "
                         "made by another tokenizer?")


# ---------------------------------------------------------------------------
# The merge loop (Sennrich et al., 2016)
# ---------------------------------------------------------------------------


def pair_counts(word_counts):
    """Adjacent symbol pairs over a dictionary ``{word (tuple of symbols): count}``,
    each occurrence weighted by its word's count, in order of first occurrence."""
    counts = collections.Counter()
    for word, count in word_counts.items():
        for pair in zip(word, word[1:]):
            counts[pair] += count
    return counts


def merge_pair(symbols, pair, new_symbol):
    """``symbols`` with every occurrence of ``pair``, read left to right without
    overlap, replaced by ``new_symbol`` (``("a", "a", "a")`` with ``("a", "a")``
    gives ``("aa", "a")``)."""
    first, second = pair
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == first and symbols[i + 1] == second:
            out.append(new_symbol)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def _concatenate(pair, index):
    return pair[0] + pair[1]


def learn_merges(word_counts, num_merges, new_symbol=_concatenate):
    """The ``num_merges`` merges BPE learns from ``{word (tuple of symbols): count}``.

    Each step merges the most frequent adjacent pair (ties: the pair whose first
    occurrence comes first, reading the words in the dictionary's order, then
    each word left to right). The counts are updated only for the words that
    contain the merged pair, so a step costs what those words cost.

    Args:
        word_counts: dict from words (tuples of symbols) to their counts.
        num_merges: how many merges to learn; fewer come back if no pair is left.
        new_symbol: ``new_symbol(pair, index)`` makes the merged symbol
            (default: ``pair[0] + pair[1]``, for string symbols; byte-level BPE
            passes ``256 + index``).

    Returns:
        The list of merged pairs, in order.
    """
    if not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative int, got {num_merges!r}")
    words = [tuple(w) for w in word_counts]
    freqs = list(word_counts.values())
    if any(not isinstance(f, int) or f < 1 for f in freqs):
        raise ValueError("word counts must be positive integers")
    counts = collections.defaultdict(int)  # pair -> weighted count
    where = collections.defaultdict(set)  # pair -> indices of the words that hold it
    for i, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            counts[pair] += freq
            where[pair].add(i)

    def first_occurrence(pair):
        i = min(where[pair])
        word = words[i]
        return i, next(j for j in range(len(word) - 1) if (word[j], word[j + 1]) == pair)

    merges = []
    for index in range(num_merges):
        if not counts:
            break
        best = max(counts.values())
        tied = [pair for pair, count in counts.items() if count == best]
        pair = tied[0] if len(tied) == 1 else min(tied, key=first_occurrence)
        merged = new_symbol(pair, index)
        merges.append(pair)
        for i in sorted(where[pair]):
            old, freq = words[i], freqs[i]
            new = merge_pair(old, pair, merged)
            old_pairs, new_pairs = list(zip(old, old[1:])), list(zip(new, new[1:]))
            for p in old_pairs:
                counts[p] -= freq
                if counts[p] == 0:
                    del counts[p]
            for p in new_pairs:
                counts[p] += freq
            for p in set(old_pairs) - set(new_pairs):
                where[p].discard(i)
            for p in new_pairs:
                where[p].add(i)
            words[i] = new
        del where[pair]
    return merges


# ---------------------------------------------------------------------------
# Byte-level BPE
# ---------------------------------------------------------------------------

# GPT-2's pre-tokenizer (Radford et al., 2019): common English contractions, a run of letters,
# of digits or of other symbols, each with at most one space before it, and runs of white space
# (keeping the last space for the word after it). Written with the standard library's ``re``:
# letters are ``[^\W\d_]`` (GPT-2's ``\p{L}`` with the third-party ``regex`` module), digits
# ``\d``. The two agree on ASCII text; on other text they may cut a few chunks differently, which
# changes which merges are learned but never what decodes back.
SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def _utf8(text):
    if not isinstance(text, str):
        raise ValueError(f"expected a string, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"the text cannot be written in UTF-8: {err.reason} at position {err.start} "
                         f"({text[err.start:err.end]!r}, a lone surrogate, which no valid text holds)") from None


class ByteBPE:
    """Byte-level byte-pair encoding (GPT-2's scheme), trained with :meth:`train`.

    Ids ``0..255`` are the byte values; ``256 + i`` is the ``i``-th merge of
    ``merges`` (a pair of ids). Encoding cuts the text into chunks with
    ``pattern`` and applies to each chunk the lowest-ranked merge it can, as
    long as one applies (the order the merges were learned in).
    """

    def __init__(self, merges, pattern=SPLIT_PATTERN):
        self.merges = [tuple(int(t) for t in pair) for pair in merges]
        self.pattern = pattern
        self._split = re.compile(pattern)
        self.ranks = {}
        self.token_bytes = [bytes([b]) for b in range(256)]
        for i, (a, b) in enumerate(self.merges):
            if not (0 <= a < 256 + i and 0 <= b < 256 + i):
                raise ValueError(f"merge {i} joins ids ({a}, {b}), but only ids below {256 + i} exist at that point")
            self.ranks[(a, b)] = i
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self._cache = {}

    @classmethod
    def train(cls, text, vocab_size, pattern=SPLIT_PATTERN):
        """Learn ``vocab_size - 256`` merges from ``text``.

        Args:
            text: the training text.
            vocab_size: the size of the vocabulary, the 256 bytes included (at least 256).
            pattern: the regular expression that cuts the text into chunks
                (default: GPT-2's, :data:`SPLIT_PATTERN`).
        """
        if not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size must be an int of at least 256 (the byte values), got {vocab_size!r}")
        chunks = collections.Counter(re.findall(pattern, text))  # in order of first occurrence
        word_counts = {tuple(_utf8(chunk)): count for chunk, count in chunks.items()}
        merges = learn_merges(word_counts, vocab_size - 256, new_symbol=lambda pair, index: 256 + index)
        return cls(merges, pattern)

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def split(self, text):
        """The chunks the text is cut into before any merge (they concatenate back to ``text``)."""
        return self._split.findall(text)

    def _encode_chunk(self, chunk):
        ids = tuple(_utf8(chunk))
        while len(ids) > 1:
            ranked = [self.ranks[p] for p in zip(ids, ids[1:]) if p in self.ranks]
            if not ranked:
                break
            rank = min(ranked)
            ids = merge_pair(ids, self.merges[rank], 256 + rank)
        return ids

    def encode(self, text):
        """``text`` -> list of token ids (any string that UTF-8 can write)."""
        if not isinstance(text, str):
            raise ValueError(f"encode takes a string, got {type(text).__name__}")
        out = []
        cache = self._cache
        for chunk in self._split.findall(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = self._encode_chunk(chunk)
            out.extend(ids)
        return out

    def decode(self, ids, errors="replace"):
        """Token ids -> text. A sequence cut in the middle of a multi-byte
        character (a sample can be) decodes with U+FFFD there (``errors``
        as ``bytes.decode``; ``"strict"`` raises instead)."""
        ids = _as_id_list(ids)
        _check_range(ids, self.vocab_size)
        return b"".join(self.token_bytes[i] for i in ids).decode("utf-8", errors=errors)

    def token_text(self, token_id):
        """One token as readable text (bytes that are not whole UTF-8 shown escaped)."""
        raw = self.token_bytes[token_id]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return repr(raw)[2:-1]

    def to_json(self):
        """The tokenizer as a JSON string (its merges and pattern)."""
        return json.dumps({"merges": self.merges, "pattern": self.pattern})

    @classmethod
    def from_json(cls, data):
        blob = json.loads(data)
        return cls(blob["merges"], blob["pattern"])

    def __repr__(self):
        return f"ByteBPE(vocab_size={self.vocab_size}, merges={len(self.merges)})"
