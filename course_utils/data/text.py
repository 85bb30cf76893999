"""English-French sentence pairs for notebook 13: loading, tokens, vocabularies, splits, batches and BLEU.

- :func:`load_sentence_pairs` reads the Tatoeba English-French pairs
  (``english<TAB>french`` per line) from, in order: the file named by
  ``COURSE_FRA_ENG``; a copy in the data folder (an earlier download); the
  shared offline archive ``fra-eng.tsv.xz`` beside the checkout
  (``../shared/datasets/``); or, online, the ``fra-eng.zip`` that Dive into
  Deep Learning downloads. When none works it raises
  :class:`~course_utils.data.DatasetUnavailableError` listing what was tried.
- A visible word-level tokenizer (:func:`normalize`, :func:`tokenize`,
  :func:`detokenize`) and :class:`Vocab`, built from the training split only.
- :func:`split_by_source`: train / validation / test splits **by English
  sentence**, so that no English sentence is in two splits (one sentence
  often has several translations: splitting by line would leak the test set
  into training).
- :class:`TranslationData` ties them together and makes
  :class:`TranslationBatches`: padded batches of similar lengths
  (bucketing), ``for (src, tgt_in), tgt_out in batches`` (``x`` is a
  :class:`SourceTarget`, a named tuple of the model's two inputs).
- :func:`corpus_bleu`: sacrebleu's corpus BLEU against every reference.

Credit: Tatoeba (tatoeba.org), sentence pairs via manythings.org/anki;
CC-BY 2.0 (France).
"""

import collections
import functools
import io
import lzma
import random
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch
from sacrebleu.metrics import BLEU

from course_utils.data.batches import fingerprint
from course_utils.data.fetch import download_checked, read_first
from course_utils.device import get_device
from course_utils.paths import repo_root

ENV_VAR = "COURSE_FRA_ENG"
CREDIT = "Tatoeba (tatoeba.org), sentence pairs via manythings.org/anki (CC-BY 2.0 France)"
D2L_URL = "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip"
D2L_SHA1 = "94646ad1522d915e7b0f9296181140edcf86a4f5"
SHARED_ARCHIVE = "fra-eng.tsv.xz"
FILE_NAMES = ("fra-eng.tsv.xz", "fra-eng.tsv", "fra-eng.zip", "fra.txt")

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in every vocabulary


# ----------------------------------------------------------------------------
# Reading the pairs
# ----------------------------------------------------------------------------


def shared_archive_path():
    """Where a development checkout keeps the offline archive: ``<repo>/../shared/datasets/fra-eng.tsv.xz``."""
    return repo_root().parent / "shared" / "datasets" / SHARED_ARCHIVE


def parse_pairs(text, source=""):
    """``english<TAB>french[<TAB>attribution]`` lines -> a list of ``(english, french)``.

    Blank lines are skipped; d2l's newer ``fra.txt`` has a third column
    (the attribution), which is dropped. A file where more than 1% of the
    lines are not tab-separated pairs is refused with a ``ValueError``.
    """
    pairs, bad = [], 0
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            bad += 1
            continue
        pairs.append((parts[0].strip(), parts[1].strip()))
    if not pairs or bad > 0.01 * len(lines):
        raise ValueError(f"{source or 'the text'} is not a file of 'english<TAB>french' lines: {bad} of "
                         f"{len(lines)} lines are not tab-separated pairs")
    return pairs


def read_pairs_file(path):
    """Read pairs from a ``.tsv``/``.txt`` file, an ``.xz``-compressed one, or d2l's ``fra-eng.zip``."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in FILE_NAMES + ("fra-eng/fra.txt",):
            if (path / name).is_file():
                return read_pairs_file(path / name)
        raise FileNotFoundError(f"{path} holds none of {', '.join(FILE_NAMES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".xz":
        with lzma.open(path, "rt", encoding="utf-8") as f:
            return parse_pairs(f.read(), str(path))
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("fra.txt")]
            if not names:
                raise ValueError(f"{path} has no fra.txt inside (d2l's fra-eng.zip holds fra-eng/fra.txt)")
            with archive.open(names[0]) as f:
                return parse_pairs(io.TextIOWrapper(f, encoding="utf-8").read(), f"{path}:{names[0]}")
    return parse_pairs(path.read_text(encoding="utf-8"), str(path))


def load_sentence_pairs(download=True):
    """All English-French pairs, as a list of ``(english, french)`` strings in file order.

    Sources, in order: ``$COURSE_FRA_ENG`` (a file or a folder holding one),
    ``fra-eng.tsv.xz`` / ``fra-eng.tsv`` / ``fra-eng.zip`` in the data folder,
    the shared archive beside the checkout (:func:`shared_archive_path`), and
    (if ``download``) d2l's ``fra-eng.zip`` saved into the data folder.
    Raises ``DatasetUnavailableError`` saying what was tried and how to fix it.
    """
    fixes = [
        f"point {ENV_VAR} at the pairs file, e.g. export {ENV_VAR}=/path/to/fra-eng.tsv.xz (or d2l's "
        "fra-eng.zip, or any 'english<TAB>french' text file)",
        "put fra-eng.tsv.xz beside the checkout, at {shared}",
        "connect to the internet and run again: d2l's fra-eng.zip is downloaded into {folder}",
    ]
    return read_first("The English-French sentence pairs are", read_pairs_file, env_var=ENV_VAR,
                      local_names=FILE_NAMES[:3], shared=shared_archive_path(),
                      errors=(OSError, ValueError, zipfile.BadZipFile, lzma.LZMAError), fixes=fixes, url=D2L_URL,
                      download_name="fra-eng.zip",
                      download=(lambda target: download_checked(D2L_URL, target, "sha1", D2L_SHA1))
                      if download else None)


# ----------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------

# A word with the apostrophe of an elision (j'ai, l'homme, qu'il, don't), a word, or one punctuation mark.
TOKEN_RE = re.compile(r"\w+'(?=\w)|\w+|[^\w\s]")
_NO_SPACE_BEFORE = {"en": set(".,!?;:)%'\"»"), "fr": set(".,)%'")}
_NO_SPACE_AFTER = set("(-")


def normalize(text):
    """Lower case, typographic apostrophes as ``'``, every run of spaces (also the
    narrow no-break space French puts before ``!`` and ``?``) as one space."""
    text = unicodedata.normalize("NFC", text).lower().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def tokenize(text):
    """Word-level tokens: ``"J'ai perdu !"`` -> ``["j'", "ai", "perdu", "!"]``."""
    return list(_tokens(text))


@functools.lru_cache(maxsize=1 << 18)
def _tokens(text):
    return tuple(TOKEN_RE.findall(normalize(text)))  # a tuple: the cache hands out the same object


def detokenize(tokens, lang="fr"):
    """Tokens back to text: elisions glue to the next word (``j'`` + ``ai``), hyphens to both
    sides (``arrête-toi``); before ``! ? : ;`` French keeps its space, English does not."""
    if lang not in _NO_SPACE_BEFORE:
        raise ValueError(f"lang must be 'en' or 'fr', got {lang!r}")
    text, previous = "", None
    for token in tokens:
        elision = previous is not None and len(previous) > 1 and previous.endswith("'")
        glue = (previous is None or elision or previous in _NO_SPACE_AFTER or token == "-"
                or token in _NO_SPACE_BEFORE[lang])
        text += token if glue else " " + token
        previous = token
    return text


class Vocab:
    """Token <-> id, with ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3.

    Built from tokenised sentences (the training split only): tokens seen at
    least ``min_freq`` times, most frequent first (ties alphabetically). An
    unknown token maps to ``<unk>``.
    """

    def __init__(self, sentences, min_freq=1):
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        counts = collections.Counter(token for sentence in sentences for token in sentence)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        self.itos = list(SPECIALS) + kept
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts
        self.min_freq = min_freq

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self):
        return len(self.itos)

    def __getitem__(self, token):
        return self.stoi.get(token, self.unk_id)

    def __contains__(self, token):
        return token in self.stoi

    def encode(self, tokens, bos=False, eos=False):
        """A list of ids, optionally framed by ``<bos>`` and ``<eos>``."""
        ids = [self[t] for t in tokens]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids):
        """Ids -> tokens, stopping at the first ``<eos>`` and skipping ``<pad>`` and ``<bos>``."""
        tokens = []
        for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                tokens.append(self.itos[i])
        return tokens

    def __repr__(self):
        return f"Vocab({len(self):,} tokens, min_freq={self.min_freq})"


# ----------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------


def split_by_source(pairs, val_fraction, test_fraction, seed=0):
    """Split pairs into train / validation / test **by source sentence**.

    Pairs whose English sides tokenise the same (``"Go."`` and ``"go ."``)
    form one group; each group goes whole into one split, chosen at random
    with ``seed``; ``val_fraction`` and ``test_fraction`` are fractions of
    the groups. Returns three lists of pairs, each in file order.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1, got "
                         f"{val_fraction} and {test_fraction}")
    keys = list(dict.fromkeys(_tokens(en) for en, _ in pairs))  # distinct sources, in file order
    random.Random(seed).shuffle(keys)
    n_val, n_test = round(val_fraction * len(keys)), round(test_fraction * len(keys))
    split_of = {k: "val" for k in keys[:n_val]}
    split_of.update({k: "test" for k in keys[n_val:n_val + n_test]})
    out = {"train": [], "val": [], "test": []}
    for en, fr in pairs:
        out[split_of.get(_tokens(en), "train")].append((en, fr))
    return out["train"], out["val"], out["test"]


def group_references(pairs):
    """``[(english, [french, ...]), ...]``: each source sentence once (as first
    written), with every translation the pairs give it, in file order."""
    groups, first = {}, {}
    for en, fr in pairs:
        key = _tokens(en)
        first.setdefault(key, en)
        groups.setdefault(key, []).append(fr)
    return [(first[k], refs) for k, refs in groups.items()]


# ----------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------


class SourceTarget(NamedTuple):
    """A translation batch's model input: source ids ``src (B, S)`` and the
    decoder's input ``tgt_in (B, T)`` (``<bos>`` + the target without its last
    token). A named tuple: ``fit`` moves both to the device and calls
    ``model(src, tgt_in)`` (``model(*x)``)."""

    src: torch.Tensor
    tgt_in: torch.Tensor


def pad_sequences(sequences, pad_id=0):
    """A list of id lists -> a ``(N, max_len)`` int64 tensor padded on the right with ``pad_id``."""
    width = max((len(s) for s in sequences), default=0)
    out = torch.full((len(sequences), width), pad_id, dtype=torch.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.int64)
    return out


class TranslationBatches:
    """``((src, tgt_in), tgt_out)`` batches of padded id tensors, the pair a
    :class:`SourceTarget`.

    ``src`` is ``(B, S)``; the target ``<bos> w1 .. wn <eos>`` gives
    ``tgt_in = <bos> w1 .. wn`` and ``tgt_out = w1 .. wn <eos>``, both
    ``(B, T)``; padding is ``pad_id`` (0). Each batch is cut to its own longest
    sentence.

    Bucketing: the examples are sorted by (source length, target length)
    before they are cut into batches, so a batch holds sentences of the same
    lengths and almost no padding. With ``shuffle``, ties are broken at random
    and the order of the batches is shuffled, anew each epoch (drawn from
    ``seed`` and the epoch, so a resumed run sees the same batches).

    Args:
        src: ``(N, S_max)`` source ids, padded.
        tgt: ``(N, T_max + 1)`` target ids with ``<bos>`` and ``<eos>``, padded.
        batch_size: sentences per batch.
        device: where the data lives and batches are made (default: the best
            available, ``course_utils.device.get_device()``).
    """

    def __init__(self, src, tgt, batch_size, *, shuffle=False, seed=0, pad_id=0, device=None):
        if src.ndim != 2 or tgt.ndim != 2 or src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src and tgt must be (N, length) id tensors with the same N, got {tuple(src.shape)} "
                             f"and {tuple(tgt.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else get_device()
        self.src, self.tgt = src.to(self.device), tgt.to(self.device)
        self.batch_size, self.shuffle, self.seed, self.pad_id = int(batch_size), shuffle, seed, pad_id
        self.src_lengths = (src != pad_id).sum(dim=1).cpu()
        self.tgt_lengths = (tgt != pad_id).sum(dim=1).cpu()  # with <bos> and <eos>
        self.epoch = 0  # advanced by each pass; saved and restored by fit's checkpoints

    @property
    def num_examples(self):
        return self.src.shape[0]

    @property
    def num_target_tokens(self):
        """Tokens the model predicts per epoch (``<eos>`` included, padding not)."""
        return int((self.tgt_lengths - 1).sum())

    def __len__(self):
        return -(-self.num_examples // self.batch_size)

    def describe(self):
        """What these batches are, as JSON data, for a training run's identity
        (``course_utils.checkpoint.run_config``): batch size, number of pairs,
        shuffling, seed, padding id, and fingerprints of the sources and targets."""
        return {"batch_size": self.batch_size, "num_examples": self.num_examples, "shuffle": self.shuffle,
                "seed": self.seed, "pad_id": self.pad_id, "src_fingerprint": fingerprint(self.src),
                "tgt_fingerprint": fingerprint(self.tgt)}

    def _order(self, gen):
        """Example indices sorted by length; with ``shuffle``, random among equal lengths."""
        n = self.num_examples
        start = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        key = self.src_lengths[start] * (int(self.tgt_lengths.max()) + 1) + self.tgt_lengths[start]
        return start[torch.sort(key, stable=True).indices]

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        order = self._order(gen)
        batches = list(order.split(self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
        # The epoch's indices go to the device in one copy (not one per batch, which makes the CPU
        # wait), and each batch's lengths are read on the CPU, where the lengths live, once.
        sizes = [len(idx) for idx in batches]
        on_device = torch.cat(batches).to(self.device).split(sizes) if batches else []
        lengths = torch.stack([torch.stack([self.src_lengths[idx].max(), self.tgt_lengths[idx].max()])
                               for idx in batches]).tolist() if batches else []  # [[S, T + 1] per batch]
        for idx, (s_len, t_len) in zip(on_device, lengths):
            src = self.src[idx, :s_len]  # (B, S)
            tgt = self.tgt[idx, :t_len]  # (B, T + 1)
            yield SourceTarget(src, tgt[:, :-1]), tgt[:, 1:]  # (B, T) each: shifted by one


# ----------------------------------------------------------------------------
# The task
# ----------------------------------------------------------------------------


class TranslationData:
    """English -> French pairs split by source sentence, with vocabularies from the training split.

    Args:
        pairs: ``(english, french)`` strings, e.g. :func:`load_sentence_pairs`.
        val_fraction, test_fraction: fractions of the distinct English
            sentences held out (see :func:`split_by_source`).
        min_freq: a word enters a vocabulary if it occurs at least this often
            in the training split; rarer words become ``<unk>``.
        seed: the split's seed.
        max_train: keep only this many training pairs (a random subset, drawn
            with ``seed``), e.g. for a quick run; ``None`` keeps all.
        max_eval: likewise for the validation and test splits, counted in
            source sentences (every reference of a kept sentence stays).

    Attributes: ``train_pairs``, ``val_pairs``, ``test_pairs`` (lists of
    string pairs), ``src_vocab``, ``tgt_vocab``.
    """

    def __init__(self, pairs, val_fraction=0.02, test_fraction=0.04, min_freq=2, seed=0, max_train=None,
                 max_eval=None):
        train, val, test = split_by_source(pairs, val_fraction, test_fraction, seed)
        rng = random.Random(seed + 1)
        if max_train is not None and max_train < len(train):
            keep = sorted(rng.sample(range(len(train)), max_train))
            train = [train[i] for i in keep]
        if max_eval is not None:
            val, test = (_subset_groups(s, max_eval, rng) for s in (val, test))
        self.train_pairs, self.val_pairs, self.test_pairs = train, val, test
        self.src_vocab = Vocab((tokenize(en) for en, _ in train), min_freq)
        self.tgt_vocab = Vocab((tokenize(fr) for _, fr in train), min_freq)
        self.seed = seed

    def __repr__(self):
        return (f"TranslationData({len(self.train_pairs):,} train / {len(self.val_pairs):,} val / "
                f"{len(self.test_pairs):,} test pairs; vocabularies: English {len(self.src_vocab):,}, "
                f"French {len(self.tgt_vocab):,} tokens)")

    def encode_sources(self, sentences):
        """English strings -> ``(B, S)`` padded ids (with ``<eos>``, as in training)."""
        return pad_sequences([self.src_vocab.encode(tokenize(s), eos=True) for s in sentences])

    def encode_targets(self, sentences):
        """French strings -> ``(B, T + 1)`` padded ids with ``<bos>`` and ``<eos>``."""
        return pad_sequences([self.tgt_vocab.encode(tokenize(s), bos=True, eos=True) for s in sentences])

    def batches(self, pairs, batch_size, shuffle=False, seed=0, device=None):
        """:class:`TranslationBatches` over ``pairs`` (any list of string pairs)."""
        return TranslationBatches(self.encode_sources([en for en, _ in pairs]),
                                  self.encode_targets([fr for _, fr in pairs]), batch_size, shuffle=shuffle,
                                  seed=seed, device=device)

    def train_batches(self, batch_size, seed=0, device=None):
        """Shuffled, bucketed training batches."""
        return self.batches(self.train_pairs, batch_size, shuffle=True, seed=seed, device=device)

    def val_batches(self, batch_size, device=None):
        """Validation batches, bucketed, in a fixed order."""
        return self.batches(self.val_pairs, batch_size, device=device)

    def test_batches(self, batch_size, device=None):
        """Test batches, bucketed, in a fixed order."""
        return self.batches(self.test_pairs, batch_size, device=device)

    def test_groups(self):
        """``[(english, [every French reference]), ...]`` of the test split."""
        return group_references(self.test_pairs)


def _subset_groups(pairs, n_sources, rng):
    """The pairs of ``n_sources`` randomly chosen source sentences (all their references)."""
    keys = list(dict.fromkeys(_tokens(en) for en, _ in pairs))
    if n_sources >= len(keys):
        return pairs
    chosen = set(rng.sample(keys, n_sources))
    return [(en, fr) for en, fr in pairs if _tokens(en) in chosen]


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def corpus_bleu(hypotheses, references):
    """sacrebleu's corpus BLEU (0-100) of detokenised ``hypotheses`` against
    ``references`` (one list of reference strings per hypothesis, any number).

    Both sides are normalised as the tokenizer does (lower case, spaces), and
    sacrebleu applies its standard ``13a`` tokenisation, so the score is
    comparable with other systems' case-insensitive BLEU on the same references.
    Returns sacrebleu's ``BLEUScore`` (``.score``, ``.precisions``, ``.bp``).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"one list of references per hypothesis: got {len(hypotheses)} hypotheses and "
                         f"{len(references)} reference lists")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    width = max(len(refs) for refs in references)
    streams = [[normalize(refs[k]) if k < len(refs) else None for refs in references] for k in range(width)]
    return BLEU().corpus_score([normalize(h) for h in hypotheses], streams)
