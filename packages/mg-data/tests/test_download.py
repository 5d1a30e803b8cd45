"""Downloading with a patched URL opener (or file:// / 127.0.0.1 only): never the network."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import threading
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import mg_data.download as dl
import mg_data.mnist as mnist
from mg_data import MNIST_SHA256, DownloadError, download_file, download_mnist, load_mnist

Opener = Callable[[str, float], dl._Response]
Idx = Callable[[NDArray[np.generic]], bytes]

MIRRORS = ("https://mirror-a.invalid/mnist/", "https://mirror-b.invalid/mnist")
PAYLOAD = b"\x1f\x8b pretend archive " * 5000
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FakeResponse(io.BytesIO):
    """A response whose read() may fail after ``fail_after`` bytes."""

    def __init__(
        self,
        data: bytes,
        *,
        content_length: int | None = None,
        fail_after: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        super().__init__(data)
        self.headers = {} if content_length is None else {"Content-Length": str(content_length)}
        self.fail_after = fail_after
        self.error = error

    def read(self, size: int | None = -1, /) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            assert self.error is not None
            raise self.error
        if self.fail_after is not None and size is not None and size > 0:
            size = min(size, self.fail_after - self.tell())
        return super().read(size)


class FakeWeb:
    """Serves url -> bytes (or an exception, or a FakeResponse factory); records URLs."""

    def __init__(self, routes: dict[str, bytes | BaseException | Callable[[], FakeResponse]]):
        self.routes = routes
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> dl._Response:
        self.urls.append(url)
        route = self.routes.get(url)
        if route is None:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        if isinstance(route, BaseException):
            raise route
        if callable(route):
            return route()
        return FakeResponse(route, content_length=len(route))


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeWeb]:
    def install(routes: dict[str, bytes | BaseException | Callable[[], FakeResponse]]) -> FakeWeb:
        fake = FakeWeb(routes)
        monkeypatch.setattr(dl, "_open_url", fake)
        return fake

    return install


def url(mirror: int, name: str) -> str:
    return MIRRORS[mirror].rstrip("/") + "/" + name


def test_success_renames_atomically(
    tmp_path: Path, web: Callable[..., FakeWeb], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = web({url(0, "f.gz"): PAYLOAD})
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renames.append((Path(src), Path(dst)))
        assert Path(src).read_bytes() == PAYLOAD and not Path(dst).exists()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    path = download_file("f.gz", tmp_path / "new", mirrors=MIRRORS, md5=PAYLOAD_MD5, progress=False)
    assert path == tmp_path / "new" / "f.gz" and path.read_bytes() == PAYLOAD
    assert fake.urls == [url(0, "f.gz")]
    [(src, dst)] = renames
    assert src.parent == dst.parent == tmp_path / "new" and src.name.endswith(".part")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["f.gz"]


def test_progress_bar_shows_file_name(
    tmp_path: Path, web: Callable[..., FakeWeb], capsys: pytest.CaptureFixture[str]
) -> None:
    web({url(0, "f.gz"): PAYLOAD})
    download_file("f.gz", tmp_path, mirrors=MIRRORS, md5=PAYLOAD_MD5, progress=True)
    assert "f.gz" in capsys.readouterr().err


def test_checksum_failure_leaves_no_file(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    fake = web({url(0, "f.gz"): PAYLOAD[:-1] + b"!", url(1, "f.gz"): b"<html>oops</html>"})
    with pytest.raises(DownloadError) as info:
        download_file("f.gz", tmp_path, mirrors=MIRRORS, md5=PAYLOAD_MD5, progress=False)
    message = str(info.value)
    assert message.count("MD5 mismatch") == 2 and url(1, "f.gz") in message
    assert len(fake.urls) == 2
    assert list(tmp_path.iterdir()) == []


def test_falls_back_to_second_mirror(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    fake = web({url(0, "f.gz"): urllib.error.URLError("timed out"), url(1, "f.gz"): PAYLOAD})
    download_file("f.gz", tmp_path, mirrors=MIRRORS, md5=PAYLOAD_MD5, progress=False)
    assert fake.urls == [url(0, "f.gz"), url(1, "f.gz")]
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD


def test_bad_checksum_then_good_mirror(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    web({url(0, "f.gz"): b"corrupted", url(1, "f.gz"): PAYLOAD})
    download_file("f.gz", tmp_path, mirrors=MIRRORS, md5=PAYLOAD_MD5, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["f.gz"]


def test_http_error(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    web({})
    with pytest.raises(DownloadError, match="404"):
        download_file("f.gz", tmp_path, mirrors=MIRRORS, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_short_body_against_content_length(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    def short() -> FakeResponse:
        return FakeResponse(PAYLOAD[:1000], content_length=len(PAYLOAD))

    web({url(0, "f.gz"): short})
    with pytest.raises(DownloadError, match="incomplete download"):
        download_file("f.gz", tmp_path, mirrors=MIRRORS[:1], progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "error", [ConnectionResetError("reset by peer"), TimeoutError("read timed out")]
)
def test_failure_mid_stream_leaves_no_file(
    tmp_path: Path, web: Callable[..., FakeWeb], error: BaseException
) -> None:
    def broken() -> FakeResponse:
        return FakeResponse(PAYLOAD, fail_after=70_000, error=error)

    web({url(0, "f.gz"): broken})
    with pytest.raises(DownloadError, match=str(error)):
        download_file("f.gz", tmp_path, mirrors=MIRRORS[:1], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_mid_stream_leaves_no_file(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    def interrupted() -> FakeResponse:
        return FakeResponse(PAYLOAD, fail_after=70_000, error=KeyboardInterrupt())

    web({url(0, "f.gz"): interrupted})
    with pytest.raises(KeyboardInterrupt):
        download_file("f.gz", tmp_path, mirrors=MIRRORS, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cannot_create_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DownloadError, match="cannot create directory"):
        download_file("f.gz", tmp_path / "file" / "sub", mirrors=MIRRORS, progress=False)


def test_file_url_with_real_opener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_open_url: Opener
) -> None:
    monkeypatch.setattr(dl, "_open_url", real_open_url)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.gz").write_bytes(PAYLOAD)
    mirror = (tmp_path / "src").as_uri() + "/"
    path = download_file(
        "f.gz", tmp_path / "dst", mirrors=[mirror], md5=PAYLOAD_MD5, https_only=False
    )
    assert path.read_bytes() == PAYLOAD


@pytest.fixture
def local_http(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_local_http_server_with_real_opener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_open_url: Opener, local_http: str
) -> None:
    monkeypatch.setattr(dl, "_open_url", real_open_url)
    (tmp_path / "www" / "f.gz").write_bytes(PAYLOAD)
    path = download_file(
        "f.gz",
        tmp_path / "dst",
        mirrors=[local_http + "missing/", local_http],
        md5=PAYLOAD_MD5,
        https_only=False,
    )
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in (tmp_path / "dst").iterdir()] == ["f.gz"]


def test_plain_http_is_refused_by_default(tmp_path: Path, web: Callable[..., FakeWeb]) -> None:
    fake = web({"http://mirror.invalid/f.gz": PAYLOAD})
    with pytest.raises(DownloadError) as info:
        download_file("f.gz", tmp_path, mirrors=["http://mirror.invalid/"], progress=False)
    assert "not https" in str(info.value) and fake.urls == []
    assert list(tmp_path.iterdir()) == []


def test_redirect_from_https_to_http_is_refused() -> None:
    import urllib.request

    request = urllib.request.Request("https://mirror.invalid/f.gz")
    with pytest.raises(urllib.error.URLError, match="refused a redirect"):
        dl._NoDowngrade().redirect_request(request, None, 302, "Found", {}, "http://evil/f.gz")
    assert dl._NoDowngrade().redirect_request(
        request, None, 302, "Found", {}, "https://other.invalid/f.gz"
    )


@pytest.mark.parametrize("announced", [True, False])
def test_a_download_stops_past_its_size_limit(
    tmp_path: Path, web: Callable[..., FakeWeb], announced: bool
) -> None:
    def endless() -> FakeResponse:
        data = b"x" * 10_000_000
        return FakeResponse(data, content_length=len(data) if announced else None)

    web({url(0, "f.gz"): endless})
    with pytest.raises(DownloadError) as info:
        download_file("f.gz", tmp_path, mirrors=MIRRORS[:1], max_bytes=1000, progress=False)
    assert "1000 bytes" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_mnist_downloads_have_a_short_timeout_and_known_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An absent network (a connect that hangs) fails within seconds, not minutes."""
    seen: list[float] = []

    def hanging(url: str, timeout: float) -> dl._Response:
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(dl, "_open_url", hanging)
    with pytest.raises(DownloadError, match="timed out"):
        load_mnist(tmp_path, progress=False)
    assert seen and max(seen) <= 10
    assert all(m.startswith("https://") for m in mnist.MNIST_MIRRORS)
    assert set(mnist.MNIST_GZ_BYTES) == set(mnist.MNIST_GZ_MD5)


def _tiny_mnist(idx: Idx) -> dict[str, bytes]:
    """Tiny gzip-compressed MNIST-shaped files keyed by .gz name."""
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", 6), ("t10k", 3)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx(images))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx(labels))
    return files


def _serve_mnist(
    files: dict[str, bytes], web: Callable[..., FakeWeb], monkeypatch: pytest.MonkeyPatch
) -> FakeWeb:
    for name, data in files.items():
        monkeypatch.setitem(mnist.MNIST_GZ_MD5, name, hashlib.md5(data).hexdigest())
    mirror = mnist.MNIST_MIRRORS[0]
    return web({mirror + name: data for name, data in files.items()})


def test_load_mnist_downloads_missing_files(
    tmp_path: Path, web: Callable[..., FakeWeb], monkeypatch: pytest.MonkeyPatch, idx: Idx
) -> None:
    files = _tiny_mnist(idx)
    fake = _serve_mnist(files, web, monkeypatch)
    directory = tmp_path / "cache"
    ds = load_mnist(directory, verify=False, progress=False)
    assert ds.train_images.shape == (6, 28, 28) and ds.test_labels.shape == (3,)
    assert sorted(p.name for p in directory.iterdir()) == sorted(files)
    assert len(fake.urls) == 4
    load_mnist(directory, verify=False, progress=False)
    assert len(fake.urls) == 4  # nothing downloaded the second time


def test_download_mnist_only_fetches_missing(
    tmp_path: Path, web: Callable[..., FakeWeb], monkeypatch: pytest.MonkeyPatch, idx: Idx
) -> None:
    files = _tiny_mnist(idx)
    fake = _serve_mnist(files, web, monkeypatch)
    tmp_path.joinpath("t10k-labels-idx1-ubyte").write_bytes(b"raw copy already here")
    assert download_mnist(tmp_path, progress=False) == tmp_path
    assert sorted(u.rsplit("/", 1)[1] for u in fake.urls) == sorted(
        name for name in files if not name.startswith("t10k-labels")
    )


def test_downloaded_real_files_pass_sha256(
    tmp_path: Path, web: Callable[..., FakeWeb], monkeypatch: pytest.MonkeyPatch, mnist_dir: Path
) -> None:
    """Serve the real files as a mirror would; the SHA-256 of their content must verify."""
    files = {}
    for name in MNIST_SHA256:
        gz_path = mnist_dir / f"{name}.gz"
        data = (
            gz_path.read_bytes()
            if gz_path.is_file()
            else gzip.compress((mnist_dir / name).read_bytes())
        )
        files[f"{name}.gz"] = data
    _serve_mnist(files, web, monkeypatch)
    ds = load_mnist(tmp_path / "dl", progress=False)  # verify=True
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert not list((tmp_path / "dl").glob("*.part"))
