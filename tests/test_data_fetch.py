"""course_utils.data.fetch: the one search for a dataset file and the checked download."""

import hashlib
import urllib.request

import pytest
from download_helpers import fake_response

from course_utils.data import DatasetUnavailableError
from course_utils.data.fetch import download_checked, read_first


def test_a_download_is_kept_only_when_its_digest_matches(tmp_path, monkeypatch):
    payload = b"some bytes"
    monkeypatch.setattr(urllib.request, "urlopen", fake_response(payload))
    target = tmp_path / "sub" / "file.bin"
    with pytest.raises(ValueError, match="SHA-256 is .*, expected 0+"):
        download_checked("https://example.org/f", target, "sha256", "0" * 64)
    assert not target.parent.exists() or not any(target.parent.iterdir()), "a refused download leaves nothing"
    assert download_checked("https://example.org/f", target, "sha1", hashlib.sha1(payload).hexdigest()) == target
    assert target.read_bytes() == payload and [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_sources_in_order_and_the_error_lists_them(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SOME_DATA", raising=False)
    shared = tmp_path / "shared.txt"
    kwargs = dict(env_var="SOME_DATA", local_names=("a.txt",), shared=shared, errors=(OSError, ValueError),
                  fixes=["put a.txt into {folder}", "or at {shared}"])
    with pytest.raises(DatasetUnavailableError) as caught:
        read_first("Some data is", lambda p: p.read_text(), **kwargs)
    message = str(caught.value)
    assert message.startswith("Some data is not available.")
    for line in ("1. $SOME_DATA: not set", "2. a copy in the data folder", "3. the shared offline archive",
                 "4. download: not attempted", f"or at {shared}", f"put a.txt into {tmp_path / 'data'}"):
        assert line in message, line
    shared.write_text("shared")
    assert read_first("Some data is", lambda p: p.read_text(), **kwargs) == "shared"
    (tmp_path / "env.txt").write_text("env")
    monkeypatch.setenv("SOME_DATA", str(tmp_path / "env.txt"))
    assert read_first("Some data is", lambda p: p.read_text(), **kwargs) == "env"
    monkeypatch.setenv("SOME_DATA", str(tmp_path / "missing.txt"))  # a broken source is skipped and named
    assert read_first("Some data is", lambda p: p.read_text(), **kwargs) == "shared"
    shared.unlink()
    downloaded = read_first("Some data is", lambda p: p.read_text(), **kwargs, url="https://example.org/d",
                            download_name="d.txt", download=lambda target: (target.parent.mkdir(parents=True),
                                                                             target.write_text("net"), target)[-1])
    assert downloaded == "net"
