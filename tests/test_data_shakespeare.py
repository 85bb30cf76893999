"""Tiny Shakespeare: its sources in order, the checksum, the error when it is missing, nanoGPT's split,
and the token batches a language model trains and is evaluated on."""

import hashlib
import lzma
import time
import urllib.error
import urllib.request

import pytest
import torch
from download_helpers import fake_response

from course_utils.data import DatasetUnavailableError, shakespeare
from course_utils.data.tokens import TokenBatches, TokenBlocks

SAMPLE = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


@pytest.fixture
def no_sources(tmp_path, monkeypatch):
    """No variable, an empty data folder, no shared archive, no network."""
    monkeypatch.delenv(shakespeare.ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(shakespeare, "shared_archive_path", lambda: tmp_path / "nowhere" / "tinyshakespeare.txt.xz")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in the test")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


@pytest.fixture
def sample_is_the_text(monkeypatch):
    """Make SAMPLE's checksum the expected one, so that small files stand in for the real text."""
    monkeypatch.setattr(shakespeare, "TEXT_SHA256", hashlib.sha256(SAMPLE.encode()).hexdigest())


def test_missing_everywhere_lists_what_was_tried_within_seconds(no_sources):
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as err:
        shakespeare.load_tiny_shakespeare()
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "$COURSE_TINYSHAKESPEARE: not set" in message
    assert "data folder" in message and "shared offline archive" in message
    assert "URLError" in message and shakespeare.URL in message
    assert "export COURSE_TINYSHAKESPEARE=" in message and "connect to the internet" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no network stack trace


def test_environment_variable_plain_or_xz(no_sources, monkeypatch, sample_is_the_text):
    plain = no_sources / "input.txt"
    plain.write_text(SAMPLE)
    monkeypatch.setenv(shakespeare.ENV_VAR, str(plain))
    assert shakespeare.load_tiny_shakespeare(download=False) == SAMPLE
    packed = no_sources / "t.txt.xz"
    packed.write_bytes(lzma.compress(SAMPLE.encode()))
    monkeypatch.setenv(shakespeare.ENV_VAR, str(packed))
    assert shakespeare.load_tiny_shakespeare(download=False) == SAMPLE
    monkeypatch.setenv(shakespeare.ENV_VAR, str(no_sources))  # a folder holding input.txt
    assert shakespeare.load_tiny_shakespeare(download=False) == SAMPLE


def test_data_folder_then_shared_archive(no_sources, monkeypatch, sample_is_the_text):
    archive = no_sources / "shared" / "tinyshakespeare.txt.xz"
    archive.parent.mkdir()
    archive.write_bytes(lzma.compress(SAMPLE.encode()))
    monkeypatch.setattr(shakespeare, "shared_archive_path", lambda: archive)
    assert shakespeare.load_tiny_shakespeare(download=False) == SAMPLE


def test_a_different_text_is_refused(no_sources, monkeypatch):
    other = no_sources / "other.txt"
    other.write_text("To be, or not to be")
    monkeypatch.setenv(shakespeare.ENV_VAR, str(other))
    with pytest.raises(DatasetUnavailableError, match="SHA-256 is .* not Tiny Shakespeare's"):
        shakespeare.load_tiny_shakespeare(download=False)


def test_missing_file_named_by_the_variable_is_reported(no_sources, monkeypatch):
    monkeypatch.setenv(shakespeare.ENV_VAR, str(no_sources / "missing.txt"))
    with pytest.raises(DatasetUnavailableError, match="missing.txt does not exist"):
        shakespeare.load_tiny_shakespeare(download=False)


def test_download_is_checked_and_kept_in_the_data_folder(no_sources, monkeypatch, sample_is_the_text):
    monkeypatch.setattr(urllib.request, "urlopen", fake_response(SAMPLE.encode()))
    assert shakespeare.load_tiny_shakespeare() == SAMPLE
    assert (no_sources / "data" / "tinyshakespeare.txt").read_text() == SAMPLE
    monkeypatch.setattr(urllib.request, "urlopen", None)  # a second load reads the saved copy
    assert shakespeare.load_tiny_shakespeare() == SAMPLE


def test_download_with_the_wrong_checksum_is_refused(no_sources, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", fake_response(b"not shakespeare"))
    with pytest.raises(DatasetUnavailableError, match="SHA-256"):
        shakespeare.load_tiny_shakespeare()
    assert not (no_sources / "data" / "tinyshakespeare.txt").exists()


def test_the_shared_file():
    """The development/CI copy (COURSE_TINYSHAKESPEARE, or the archive beside the checkout)."""
    text = shakespeare.load_tiny_shakespeare(download=False)
    assert len(text) == shakespeare.NUM_CHARACTERS == 1_115_394
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    train, val = shakespeare.split_text(text)
    assert len(train) == 1_003_854 and len(val) == 111_540  # nanoGPT's prepare.py: int(n * 0.9)
    assert train + val == text


def test_split_text_checks_the_fraction():
    assert shakespeare.split_text("abcdefghij", 0.7) == ("abcdefg", "hij")
    with pytest.raises(ValueError, match="between 0 and 1"):
        shakespeare.split_text("abc", 1.0)


# ---------------------------------------------------------------------------
# Token batches
# ---------------------------------------------------------------------------


def test_token_batches_are_windows_with_shifted_targets():
    ids = torch.arange(100)
    batches = TokenBatches(ids, block_size=8, batch_size=5, steps=3, seed=0)
    assert len(batches) == 3 and batches.num_tokens == 120
    seen = list(batches)
    assert len(seen) == 3
    for x, y in seen:
        assert x.shape == y.shape == (5, 8) and x.dtype == torch.int64
        assert torch.equal(y, x + 1)  # the stream is 0, 1, 2, ...: each target is the next id
        assert torch.equal(x - x[:, :1], torch.arange(8).expand(5, 8))  # consecutive windows
        assert int(y.max()) <= 99
    again = TokenBatches(ids, 8, 5, 3, seed=0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(seen, again))  # the same seed, the same first pass
    second = list(batches)  # the next pass draws other windows
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(seen, second))
    resumed = TokenBatches(ids, 8, 5, 3, seed=0)
    resumed.epoch = 1  # what fit restores from a checkpoint
    assert all(torch.equal(a[0], b[0]) for a, b in zip(second, resumed))


def test_token_batches_reach_both_ends():
    ids = torch.arange(12)
    starts = torch.cat([x[:, 0] for x, _ in TokenBatches(ids, 10, 50, 4, seed=1)])
    assert set(starts.tolist()) == {0, 1}  # windows of 10 with a target fit at starts 0 and 1 only


def test_token_blocks_predict_every_token_once():
    ids = torch.arange(23)
    blocks = TokenBlocks(ids, block_size=5, batch_size=2)
    batches = list(blocks)
    assert len(batches) == len(blocks) == 3  # 4 full windows in 2 batches, then the 2-token rest
    assert [tuple(x.shape) for x, _ in batches] == [(2, 5), (2, 5), (1, 2)]
    targets = torch.cat([y.reshape(-1) for _, y in batches])
    assert torch.equal(targets, torch.arange(1, 23)) and blocks.num_targets == 22
    assert all(torch.equal(y, x + 1) for x, y in batches)


def test_token_batches_reject_bad_input():
    with pytest.raises(ValueError, match="1-D int64"):
        TokenBatches(torch.arange(10).float(), 4, 2, 1)
    with pytest.raises(ValueError, match="too few"):
        TokenBatches(torch.arange(4), 4, 2, 1)
    with pytest.raises(ValueError, match="steps"):
        TokenBatches(torch.arange(10), 4, 2, 0)
    with pytest.raises(ValueError, match="batch_size"):
        TokenBlocks(torch.arange(10), 4, 0)


def test_describe_names_the_data():
    a = TokenBatches(torch.arange(50), 4, 2, 3).describe()
    b = TokenBatches(torch.arange(1, 51), 4, 2, 3).describe()
    assert a["fingerprint"] != b["fingerprint"] and a["block_size"] == 4 and a["tokens"] == 50
