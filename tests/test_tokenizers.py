"""Tokenizers: characters, the BPE merge loop (the paper's examples, a plain re-count as oracle),
byte-level BPE (exact round trips, compression against Hugging Face's trainer)."""

import random

import pytest
import regex  # sacrebleu's dependency: GPT-2's original pattern needs its \p{L} and \p{N}
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from course_utils.data.shakespeare import load_tiny_shakespeare
from course_utils.tokenizers import SPLIT_PATTERN, ByteBPE, CharTokenizer, learn_merges, merge_pair, pair_counts


@pytest.fixture(scope="module")
def shakespeare():
    return load_tiny_shakespeare(download=False)


# ---------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------


def test_char_tokenizer_sorted_vocabulary_and_round_trip():
    tok = CharTokenizer("hello world\n")
    assert tok.itos == sorted(set("hello world\n")) and tok.vocab_size == 9
    assert tok.encode("\n") == [0] and tok.encode(" ") == [1]
    assert tok.decode(tok.encode("hold world")) == "hold world"
    assert tok.decode(torch.tensor(tok.encode("low"))) == "low"


def test_char_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"\['z'\] are not in"):
        tok.encode("abz")
    with pytest.raises(ValueError, match=r"outside .*\[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")


def test_char_tokenizer_on_tiny_shakespeare(shakespeare):
    tok = CharTokenizer(shakespeare)
    assert tok.vocab_size == 65  # nanoGPT's shakespeare_char: "vocab size: 65"
    assert tok.decode(tok.encode(shakespeare)) == shakespeare


# ---------------------------------------------------------------------------
# The merge loop: the paper's examples and a plain oracle
# ---------------------------------------------------------------------------


def merges_by_recounting(word_counts, num_merges):
    """The plain loop of Sennrich et al. (2016), Algorithm 1: recount every pair after every merge,
    take the first most frequent one in the order the counts were gathered, merge it everywhere."""
    words = dict(word_counts)
    merges = []
    for _ in range(num_merges):
        counts = pair_counts(words)
        if not counts:
            break
        best = max(counts, key=counts.get)
        merges.append(best)
        words = {merge_pair(w, best, best[0] + best[1]): c for w, c in words.items()}
    return merges


def segment(word, merges):
    for pair in merges:
        word = merge_pair(word, pair, pair[0] + pair[1])
    return word


ALGORITHM_1 = {("l", "o", "w", "</w>"): 5, ("l", "o", "w", "e", "r", "</w>"): 2,
               ("n", "e", "w", "e", "s", "t", "</w>"): 6, ("w", "i", "d", "e", "s", "t", "</w>"): 3}


def test_algorithm_1_dictionary():
    """Algorithm 1's dictionary and ten merges: the first three build 'est</w>' (9 occurrences each),
    as section 3.2 describes, and the fast loop agrees with the plain one merge by merge."""
    merges = learn_merges(ALGORITHM_1, 10)
    assert merges == merges_by_recounting(ALGORITHM_1, 10)
    assert merges == [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w"), ("n", "e"),
                      ("ne", "w"), ("new", "est</w>"), ("low", "</w>"), ("w", "i")]
    assert pair_counts(ALGORITHM_1)[("e", "s")] == 9 and pair_counts(ALGORITHM_1)[("w", "e")] == 8


FIGURE_1 = {tuple(word) + ("·",): 1 for word in ("low", "lowest", "newer", "wider")}
FIGURE_1_MERGES = [("r", "·"), ("l", "o"), ("lo", "w"), ("e", "r·")]  # the paper's Figure 1


def test_figure_1_merges_are_each_a_most_frequent_pair():
    """Figure 1's four merges: each one is a most frequent pair when it is made. Several pairs tie
    at each of the first three steps (the paper does not say how it broke ties), so a run may
    order them otherwise; what the figure shows is one valid run, and it segments the unseen
    'lower' as the paper says, 'low er·'."""
    words = dict(FIGURE_1)
    for pair in FIGURE_1_MERGES:
        counts = pair_counts(words)
        assert counts[pair] == max(counts.values()), f"{pair} is not a most frequent pair at its step"
        words = {merge_pair(w, pair, pair[0] + pair[1]): c for w, c in words.items()}
    lower = tuple("lower") + ("·",)
    assert segment(lower, FIGURE_1_MERGES) == ("low", "er·")
    ours = learn_merges(FIGURE_1, 4)
    assert ours == merges_by_recounting(FIGURE_1, 4)
    assert segment(lower, ours) == ("low", "er·")  # our tie-break reaches the same segmentation


@pytest.mark.parametrize("seed", range(6))
def test_fast_loop_equals_recounting_on_random_dictionaries(seed):
    rng = random.Random(seed)
    alphabet = "abcde"[:rng.randint(2, 5)]
    words = {}
    for _ in range(rng.randint(5, 40)):
        words[tuple(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))] = rng.randint(1, 5)
    assert learn_merges(words, 30) == merges_by_recounting(words, 30)


def test_merge_pair_left_to_right_without_overlap():
    assert merge_pair(("a", "a", "a"), ("a", "a"), "aa") == ("aa", "a")
    assert merge_pair(("a", "a", "a", "a"), ("a", "a"), "aa") == ("aa", "aa")
    assert merge_pair((1, 2, 1, 2, 3), (1, 2), 9) == (9, 9, 3)


def test_learn_merges_stops_when_no_pair_is_left_and_checks_arguments():
    assert learn_merges({("a", "b"): 2}, 5) == [("a", "b")]
    with pytest.raises(ValueError, match="num_merges"):
        learn_merges({("a", "b"): 2}, -1)
    with pytest.raises(ValueError, match="positive integers"):
        learn_merges({("a", "b"): 0}, 1)


# ---------------------------------------------------------------------------
# Byte-level BPE
# ---------------------------------------------------------------------------


def random_unicode(rng, length):
    """Valid text from all over Unicode (no lone surrogates), with spaces and newlines mixed in."""
    chars = []
    for _ in range(length):
        kind = rng.random()
        if kind < 0.2:
            chars.append(rng.choice(" \n\t"))
        elif kind < 0.5:
            chars.append(chr(rng.randint(32, 126)))
        else:
            code = rng.randint(0x80, 0x10FFFF)
            chars.append(chr(code if not 0xD800 <= code <= 0xDFFF else 0xE000))
    return "".join(chars)


def test_split_covers_every_character():
    rng = random.Random(0)
    bpe = ByteBPE([])
    for _ in range(20):
        text = random_unicode(rng, 200)
        assert "".join(bpe.split(text)) == text
    assert bpe.split("Hello, world!  It's 2024.\n") == ["Hello", ",", " world", "!", " ", " It", "'s", " 2024",
                                                        ".", "\n"]


def test_round_trip_on_all_of_tiny_shakespeare(shakespeare):
    bpe = ByteBPE.train(shakespeare, 512)
    ids = bpe.encode(shakespeare)
    assert bpe.decode(ids, errors="strict") == shakespeare
    assert 1.8 < len(shakespeare) / len(ids) < 2.1  # about 1.94 characters per token
    assert max(ids) == 511 and min(ids) >= 0


def test_round_trip_on_random_unicode(shakespeare):
    bpe = ByteBPE.train(shakespeare[:50_000], 300)
    rng = random.Random(1)
    for _ in range(30):
        text = random_unicode(rng, rng.randint(0, 300))
        assert bpe.decode(bpe.encode(text), errors="strict") == text


def test_ids_are_bytes_then_merges():
    bpe = ByteBPE.train("the cat the hat the bat", 260)
    assert bpe.vocab_size == 260 and len(bpe.merges) == 4
    assert bpe.encode("A") == [65]  # a byte is its own id
    assert [bpe.token_text(256 + i) for i in range(4)] == ["th", "the", "at", " the"]  # counts 3, 3, 3, 2
    assert bpe.encode("the") == [257] and bpe.encode(" the") == [259] and bpe.encode(" cat") == [32, 99, 258]
    assert bpe.decode(bpe.encode("é")) == "é" and bpe.encode("é") == list("é".encode())


def test_encoding_by_rank_equals_replaying_the_merges(shakespeare):
    """Encoding applies the lowest-ranked merge first; that is the same as replaying the merges in the
    order they were learned on each chunk."""
    bpe = ByteBPE.train(shakespeare[:100_000], 400)
    for chunk in bpe.split(shakespeare[200_000:210_000]):
        replayed = tuple(chunk.encode())
        for i, pair in enumerate(bpe.merges):
            replayed = merge_pair(replayed, pair, 256 + i)
        assert list(replayed) == bpe.encode(chunk)


def test_json_round_trip(shakespeare):
    bpe = ByteBPE.train(shakespeare[:20_000], 300)
    again = ByteBPE.from_json(bpe.to_json())
    assert again.merges == bpe.merges and again.encode(shakespeare[:5000]) == bpe.encode(shakespeare[:5000])


def test_byte_bpe_errors():
    with pytest.raises(ValueError, match="at least 256"):
        ByteBPE.train("abc", 100)
    bpe = ByteBPE([(97, 98)])
    with pytest.raises(ValueError, match="lone surrogate"):
        bpe.encode("a\ud800b")
    with pytest.raises(ValueError, match=r"outside .*\[0, 257\)"):
        bpe.decode([300])
    with pytest.raises(ValueError, match="only ids below 256"):
        ByteBPE([(97, 400)])
    with pytest.raises(ValueError, match="string"):
        bpe.encode(b"bytes")
    assert bpe.decode([0xE2, 0x82]) == "\ufffd"  # a cut multi-byte character: replaced, not an exception


@pytest.mark.parametrize("vocab_size", [512, 1024])
def test_compression_within_one_percent_of_hugging_face(shakespeare, vocab_size):
    """The same vocabulary size trained with Hugging Face `tokenizers`' byte-level BPE (GPT-2's
    pre-tokenizer, no prefix space): characters per token on the whole text within 1%."""
    theirs = Tokenizer(models.BPE())
    theirs.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    theirs.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    theirs.train_from_iterator([shakespeare], trainer)
    assert theirs.get_vocab_size() == vocab_size
    their_ids = theirs.encode(shakespeare).ids
    assert theirs.decode(their_ids) == shakespeare
    ours = ByteBPE.train(shakespeare, vocab_size)
    ours_cpt = len(shakespeare) / len(ours.encode(shakespeare))
    theirs_cpt = len(shakespeare) / len(their_ids)
    assert abs(ours_cpt / theirs_cpt - 1) < 0.01, f"ours {ours_cpt:.3f}, Hugging Face {theirs_cpt:.3f} chars/token"


def test_split_pattern_is_gpt2s_on_ascii():
    """The standard-library pattern cuts ASCII text as GPT-2's \\p{L}/\\p{N} pattern does (the
    third-party `regex` module, which Hugging Face's pre-tokenizer mirrors)."""
    gpt2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    ours = ByteBPE([], SPLIT_PATTERN)
    rng = random.Random(2)
    for _ in range(50):
        text = "".join(chr(rng.choice([rng.randint(32, 126), 10, 32, 32, 39])) for _ in range(120))
        assert ours.split(text) == gpt2.findall(text)
