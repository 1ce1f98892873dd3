"""Downloaded weights are verified against the SHA-256 the official release publishes
(issue 15): a mismatch is refused and the file deleted; a file without a known hash is
taken as it is. The downloader is a fake that writes given bytes (no network)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from depth_ros.core.errors import WeightsError
from depth_ros.core.models.loading import WeightsSource, fetch_weights

OFFICIAL = b"official weights bytes"


def _fake(content: bytes) -> tuple[Callable[[WeightsSource, Path], Path], list[Path]]:
    """A download that writes ``content``, and the targets it was asked for."""
    calls: list[Path] = []

    def download(source: WeightsSource, target: Path) -> Path:
        calls.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return target

    return download, calls


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DEPTH_ROS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_a_download_with_the_published_hash_is_used(cache: Path) -> None:
    source = WeightsSource("w.pth", hf_repo="org/repo", sha256=hashlib.sha256(OFFICIAL).hexdigest())
    download, calls = _fake(OFFICIAL)
    path = fetch_weights(None, source, "test model", downloader=download)
    assert path == cache / "w.pth"
    assert path.read_bytes() == OFFICIAL
    assert len(calls) == 1


def test_a_mismatching_download_is_refused_and_deleted(cache: Path) -> None:
    expected = hashlib.sha256(OFFICIAL).hexdigest()
    source = WeightsSource("w.pth", hf_repo="org/repo", sha256=expected)
    download, _ = _fake(b"tampered bytes")
    with pytest.raises(WeightsError) as info:
        fetch_weights(None, source, "test model", downloader=download)
    text = str(info.value)
    assert f"publishes {expected}" in text
    assert hashlib.sha256(b"tampered bytes").hexdigest() in text
    assert "w.pth" in text
    assert not (cache / "w.pth").exists()  # not left in the cache for the next start
    # the next attempt downloads again (and succeeds with the right bytes)
    good, calls = _fake(OFFICIAL)
    assert fetch_weights(None, source, "test model", downloader=good).read_bytes() == OFFICIAL
    assert len(calls) == 1


def test_without_a_known_hash_the_download_is_not_checked(cache: Path) -> None:
    source = WeightsSource("w.pth", url="https://example.invalid/w.pth")
    download, _ = _fake(b"anything")
    assert fetch_weights(None, source, "m", downloader=download).read_bytes() == b"anything"


def test_the_depth_anything_v2_specs_record_the_published_hashes() -> None:
    from depth_ros.core.models.depth_anything_v2 import SHA256, weights_source

    known = {name: h for name, h in SHA256.items() if h is not None}
    assert len(known) == 7  # of 9 files; the other two are documented as unknown
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in known.values())
    assert weights_source("vits").sha256 == SHA256["depth_anything_v2_vits.pth"]
    assert weights_source("vitl", "vkitti").sha256 == (
        "239b1054a369e66da2576e9a118d6d7c12d90dc8ebe609579a9a09cd8e05fe38"
    )
    assert weights_source("vitl").sha256 is None


def test_an_unreachable_server_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before a Hugging Face download the server is tried with one connection: refused or
    unresolvable fails at once (huggingface_hub would retry for ~25 s); with a proxy
    configured the check is left to the download. Local addresses only."""
    import socket
    import time

    from depth_ros.core.models import loading

    for var in loading.PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    loading.check_reachable(f"http://127.0.0.1:{port}/repo")  # listening: fine
    server.close()
    t0 = time.monotonic()
    with pytest.raises(OSError, match=f"cannot reach 127.0.0.1:{port}"):
        loading.check_reachable(f"http://127.0.0.1:{port}/repo")
    assert time.monotonic() - t0 < 5.0
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    loading.check_reachable(f"http://127.0.0.1:{port}/repo")  # through the proxy: not checked
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example:8443")
    assert loading.hf_endpoint() == "https://mirror.example:8443"
