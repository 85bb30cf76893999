"""The English-French pairs: loading (offline, online, the error), tokens, vocabularies, splits, batches, BLEU."""

import collections
import hashlib
import io
import json
import lzma
import math
import urllib.error
import urllib.request
import zipfile

import pytest
import torch
from download_helpers import fake_response

from course_utils.data import DatasetUnavailableError, text

PAIRS = [("Go.", "Va !"), ("Go.", "Marche."), ("I lost.", "J'ai perdu."), ("He's calm.", "Il est calme."),
         ("I'm home.", "Je suis chez moi."), ("Stop!", "Arrête-toi !")]
TSV = "".join(f"{en}\t{fr}\n" for en, fr in PAIRS)


@pytest.fixture
def no_sources(tmp_path, monkeypatch):
    """No variable, an empty data folder, no shared archive, no network."""
    monkeypatch.delenv(text.ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(text, "shared_archive_path", lambda: tmp_path / "nowhere" / "fra-eng.tsv.xz")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in the test")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def test_parse_pairs_two_or_three_columns_and_blank_lines():
    assert text.parse_pairs(TSV) == PAIRS
    with_attribution = "\n".join(f"{en}\t{fr}\tCC-BY 2.0 (France) #{i}" for i, (en, fr) in enumerate(PAIRS))
    assert text.parse_pairs("\n" + with_attribution + "\n\n") == PAIRS


def test_parse_pairs_refuses_a_file_that_is_not_pairs():
    with pytest.raises(ValueError, match="not a file of 'english<TAB>french' lines"):
        text.parse_pairs("just some text\nwithout tabs\n")


@pytest.mark.parametrize("kind", ["tsv", "xz", "zip", "folder"])
def test_read_pairs_file_formats(tmp_path, kind):
    if kind == "tsv":
        path = tmp_path / "pairs.tsv"
        path.write_text(TSV, encoding="utf-8")
    elif kind == "xz":
        path = tmp_path / "fra-eng.tsv.xz"
        path.write_bytes(lzma.compress(TSV.encode("utf-8")))
    elif kind == "zip":  # d2l's layout: fra-eng/fra.txt
        path = tmp_path / "fra-eng.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("fra-eng/fra.txt", TSV)
    else:
        path = tmp_path / "copy"
        path.mkdir()
        (path / "fra.txt").write_text(TSV, encoding="utf-8")
    assert text.read_pairs_file(path) == PAIRS


def test_environment_variable_comes_first(no_sources, monkeypatch):
    path = no_sources / "mine.tsv"
    path.write_text(TSV, encoding="utf-8")
    monkeypatch.setenv(text.ENV_VAR, str(path))
    assert text.load_sentence_pairs() == PAIRS


def test_shared_archive_is_found(no_sources, monkeypatch):
    archive = no_sources / "shared" / "fra-eng.tsv.xz"
    archive.parent.mkdir()
    archive.write_bytes(lzma.compress(TSV.encode("utf-8")))
    monkeypatch.setattr(text, "shared_archive_path", lambda: archive)
    assert text.load_sentence_pairs(download=False) == PAIRS


def test_offline_error_lists_what_was_tried_and_how_to_fix_it(no_sources):
    with pytest.raises(DatasetUnavailableError) as err:
        text.load_sentence_pairs()
    message = str(err.value)
    assert "$COURSE_FRA_ENG: not set" in message
    assert "data folder" in message and "shared offline archive" in message
    assert "URLError" in message and text.D2L_URL in message
    assert "export COURSE_FRA_ENG=" in message and "connect to the internet" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no network stack trace


def test_broken_file_named_by_the_variable_is_reported(no_sources, monkeypatch):
    monkeypatch.setenv(text.ENV_VAR, str(no_sources / "missing.tsv"))
    with pytest.raises(DatasetUnavailableError, match="missing.tsv does not exist"):
        text.load_sentence_pairs(download=False)


def zipped(tsv):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("fra-eng/fra.txt", tsv)
    return buffer.getvalue()


def test_download_is_checked_and_kept_in_the_data_folder(no_sources, monkeypatch):
    payload = zipped(TSV)
    monkeypatch.setattr(urllib.request, "urlopen", fake_response(payload))
    monkeypatch.setattr(text, "D2L_SHA1", hashlib.sha1(payload).hexdigest())
    assert text.load_sentence_pairs() == PAIRS
    saved = no_sources / "data" / "fra-eng.zip"
    assert saved.read_bytes() == payload
    monkeypatch.setattr(urllib.request, "urlopen", None)  # a second load reads the saved copy
    assert text.load_sentence_pairs() == PAIRS


def test_download_with_the_wrong_checksum_is_refused(no_sources, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", fake_response(zipped(TSV)))
    with pytest.raises(DatasetUnavailableError, match="SHA-1"):
        text.load_sentence_pairs()
    assert not (no_sources / "data" / "fra-eng.zip").exists()


def test_the_shared_file(monkeypatch):
    """The development/CI copy (COURSE_FRA_ENG, or the archive beside the checkout): the README's figures."""
    pairs = text.load_sentence_pairs(download=False)
    assert len(pairs) == 76_036
    assert pairs[0] == ("Go.", "Va !")
    assert len({tuple(text.tokenize(en)) for en, _ in pairs}) == pytest.approx(49_196, rel=0.01)


# ---------------------------------------------------------------------------
# Tokens and vocabularies
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sentence,tokens", [
    ("J'ai perdu\u202f!", ["j'", "ai", "perdu", "!"]),
    ("Arrête-toi !", ["arrête", "-", "toi", "!"]),
    ("Qu\u2019est-ce que c'est ?", ["qu'", "est", "-", "ce", "que", "c'", "est", "?"]),
    ("I'm  home.", ["i'", "m", "home", "."]),
    ("Don't, Tom!", ["don'", "t", ",", "tom", "!"]),
    ("« Non », dit-il.", ["«", "non", "»", ",", "dit", "-", "il", "."]),
])
def test_tokenize(sentence, tokens):
    assert text.tokenize(sentence) == tokens


@pytest.mark.parametrize("sentence,lang", [
    ("j'ai perdu !", "fr"), ("arrête-toi !", "fr"), ("qu'est-ce que c'est ?", "fr"),
    ("i'm home.", "en"), ("don't, tom!", "en"), ("where's the students' room?", "en"),
])
def test_detokenize_inverts_tokenize(sentence, lang):
    assert text.detokenize(text.tokenize(sentence), lang) == sentence


def test_detokenize_round_trip_on_the_corpus():
    """Almost every sentence comes back as written (up to case and spaces); the
    exceptions are French written without the space before ! or ? and the like."""
    pairs = text.load_sentence_pairs(download=False)
    ok = sum(text.detokenize(text.tokenize(s), lang) == text.normalize(s)
             for en, fr in pairs for s, lang in ((en, "en"), (fr, "fr")))
    assert ok / (2 * len(pairs)) > 0.995


def test_vocab_counts_min_freq_and_specials():
    sentences = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    vocab = text.Vocab(sentences, min_freq=2)
    counts = collections.Counter(t for s in sentences for t in s)
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.itos[4:] == [t for t, n in counts.most_common() if n >= 2]  # a (3), b (2)
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.encode(["a", "d", "zzz"], bos=True, eos=True) == [1, vocab["a"], 3, 3, 2]
    assert vocab.decode([1, vocab["b"], vocab["a"], 2, vocab["a"], 0]) == ["b", "a"]
    assert len(text.Vocab(sentences, min_freq=1)) == 4 + 4
    with pytest.raises(ValueError, match="min_freq"):
        text.Vocab(sentences, min_freq=0)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


def sources(pairs):
    return {tuple(text.tokenize(en)) for en, _ in pairs}


def test_split_by_source_never_shares_an_english_sentence():
    pairs = text.load_sentence_pairs(download=False)[:20_000]
    train, valid, test = text.split_by_source(pairs, 0.05, 0.1, seed=3)
    assert sorted(train + valid + test) == sorted(pairs)  # every pair once
    assert not (sources(train) & sources(test)) and not (sources(train) & sources(valid))
    assert not (sources(valid) & sources(test))
    n = len(sources(pairs))
    assert len(sources(test)) == round(0.1 * n) and len(sources(valid)) == round(0.05 * n)
    assert text.split_by_source(pairs, 0.05, 0.1, seed=3) == (train, valid, test)  # deterministic
    # The check above is not vacuous: splitting the same pairs by line leaks sentences.
    shuffled = pairs[:]
    torch.manual_seed(0)
    shuffled = [shuffled[i] for i in torch.randperm(len(shuffled)).tolist()]
    by_line_train, by_line_test = shuffled[:18_000], shuffled[18_000:]
    assert sources(by_line_train) & sources(by_line_test)


def test_group_references_keeps_every_translation():
    groups = text.group_references(PAIRS + [("go .", "Bouge !")])
    assert groups[0] == ("Go.", ["Va !", "Marche.", "Bouge !"])
    assert len(groups) == 5


def test_translation_data_builds_vocabularies_from_training_pairs_only():
    pairs = text.load_sentence_pairs(download=False)[:5_000]
    data = text.TranslationData(pairs, val_fraction=0.1, test_fraction=0.1, min_freq=1, seed=0)
    train_words = {t for _, fr in data.train_pairs for t in text.tokenize(fr)}
    test_words = {t for _, fr in data.test_pairs for t in text.tokenize(fr)}
    assert set(data.tgt_vocab.itos[4:]) == train_words
    assert test_words - train_words  # some test words are unknown: the vocabulary did not peek
    groups = data.test_groups()
    assert sum(len(refs) for _, refs in groups) == len(data.test_pairs)
    small = text.TranslationData(pairs, 0.1, 0.1, seed=0, max_train=1_000, max_eval=50)
    assert len(small.train_pairs) == 1_000 and len(small.test_groups()) == 50
    assert set(small.train_pairs) <= set(data.train_pairs)


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    return text.TranslationData(text.load_sentence_pairs(download=False)[::20], 0.05, 0.05, min_freq=1)


def test_batches_cover_every_pair_once_with_shifted_targets(small_data):
    batches = small_data.train_batches(64, seed=1)
    src_all, tgt_all = batches.src, batches.tgt
    seen = []
    for x, y in batches:
        assert isinstance(x, text.SourceTarget) and isinstance(x, tuple) and len(x) == 2  # model(*x): (src, tgt_in)
        assert x.src.shape[0] == y.shape[0] and x.src.device == x.tgt_in.device == y.device
        assert x.tgt_in.shape == y.shape
        assert (x.tgt_in[:, 0] == 1).all()  # <bos>
        real = y != 0
        assert torch.equal(x.tgt_in[:, 1:][real[:, 1:]], y[:, :-1][real[:, 1:]])  # shifted by one
        assert ((y == 2).sum(dim=1) == 1).all()  # one <eos> per target
        assert (x.src != 0).any(dim=0).all() and real.any(dim=0).all()  # cut to the longest sentence
        for s, t_out in zip(x.src, y):
            seen.append((tuple(s[s != 0].tolist()), tuple(t_out[t_out != 0].tolist())))
    assert len(seen) == batches.num_examples
    expected = [(tuple(s[s != 0].tolist()), tuple(t[t != 0].tolist()[1:])) for s, t in zip(src_all, tgt_all)]
    assert sorted(seen) == sorted(expected)
    assert len(batches) == math.ceil(batches.num_examples / 64)


def test_bucketing_removes_most_padding(small_data):
    batches = small_data.train_batches(32)
    padded = sum(x.src.numel() + y.numel() for x, y in batches)
    real = sum(int((x.src != 0).sum() + (y != 0).sum()) for x, y in batches)
    gen = torch.Generator().manual_seed(0)
    random_order = torch.randperm(batches.num_examples, generator=gen).split(32)
    padded_random = sum(int(batches.src_lengths[i].max()) * len(i) + int(batches.tgt_lengths[i].max() - 1) * len(i)
                        for i in random_order)
    assert padded / real < 1.05 < padded_random / real


def test_batches_are_shuffled_per_epoch_and_repeatable(small_data):
    a, b = small_data.train_batches(32, seed=5), small_data.train_batches(32, seed=5)
    first = [x.src.tolist() for x, _ in a]
    assert first == [x.src.tolist() for x, _ in b]  # same seed, same epoch: same batches
    second = [x.src.tolist() for x, _ in a]
    assert second != first  # a new epoch, a new order
    resumed = small_data.train_batches(32, seed=5)
    resumed.epoch = 1  # what fit restores from a checkpoint
    assert [x.src.tolist() for x, _ in resumed] == second
    ordered = small_data.val_batches(32)
    assert [x.src.tolist() for x, _ in ordered] == [x.src.tolist() for x, _ in ordered]


def test_batches_describe_themselves_for_a_runs_identity(small_data):
    described = small_data.train_batches(32, seed=5).describe()
    assert json.loads(json.dumps(described)) == described
    assert (described["batch_size"], described["num_examples"], described["shuffle"], described["seed"]) == (
        32, len(small_data.train_pairs), True, 5)
    assert small_data.train_batches(32, seed=5).describe() == described
    assert small_data.train_batches(32, seed=6).describe()["seed"] == 6
    other = small_data.batches(small_data.train_pairs[1:], 32, shuffle=True, seed=5).describe()
    assert other["src_fingerprint"] != described["src_fingerprint"]
    assert other["tgt_fingerprint"] != described["tgt_fingerprint"]


def test_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="same N"):
        text.TranslationBatches(torch.zeros(3, 4, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="batch_size"):
        text.TranslationBatches(torch.ones(3, 4, dtype=torch.long), torch.ones(3, 4, dtype=torch.long), 0)


# ---------------------------------------------------------------------------
# BLEU
# ---------------------------------------------------------------------------


def reference_bleu(hypotheses, references):
    """Papineni et al. (2002): clipped n-gram precisions (n = 1..4, counts clipped by the
    most any reference has), geometric mean, brevity penalty against the closest
    reference length. For texts whose tokens are separated by spaces, without punctuation."""
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        h, rs = hyp.split(), [r.split() for r in refs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1]
        for n in range(1, 5):
            grams = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            best = collections.Counter()
            for r in rs:
                best |= collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, best[g]) for g, c in grams.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = min(0.0, 1 - ref_len / hyp_len)
    return 100 * math.exp(log_precision + brevity)


def test_corpus_bleu_matches_the_formula_with_several_references():
    hyps = ["the cat sat on the mat today", "a dog ran in the big park", "he is very calm now"]
    refs = [["the cat sat on a mat today", "there is a cat on the mat"],
            ["the dog ran in the park", "a dog was running in the big park", "dogs run"],
            ["he is calm now"]]
    assert text.corpus_bleu(hyps, refs).score == pytest.approx(reference_bleu(hyps, refs), abs=1e-6)
    # A planted mistake, scoring against the first reference only, is caught:
    first_only = reference_bleu(hyps, [r[:1] for r in refs])
    assert abs(text.corpus_bleu(hyps, refs).score - first_only) > 1


def test_corpus_bleu_normalises_case_and_spaces():
    assert text.corpus_bleu(["Il est  calme ."], [["autre chose", "il est calme."]]).score == pytest.approx(100)
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        text.corpus_bleu(["a"], [])
    with pytest.raises(ValueError, match="at least one reference"):
        text.corpus_bleu(["a"], [[]])
