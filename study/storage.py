"""Study storage: a local folder or a cloud URI (s3://, gs://) through pyarrow's filesystems.

Everything that reads or writes study files goes through these helpers, so a cloud path works wherever a
local one does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pyarrow.fs as pafs


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def split_query(uri: str) -> tuple[str, str]:
    """(the URI without its query, the query with its leading "?", or "").

    A cloud URI may carry pyarrow's filesystem options as a query, e.g.
    `s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http`; a local path never has one.
    """
    if not is_uri(uri) or "?" not in uri:
        return uri, ""
    base, query = uri.split("?", 1)
    return base, "?" + query


def normalize(path: str) -> str:
    """A local path made absolute (Ray Tune needs that); URIs keep their query, without a trailing slash."""
    if is_uri(path):
        base, query = split_query(path)
        return base.rstrip("/") + query
    if path.startswith("file://"):
        path = path[len("file://") :]
    return os.path.abspath(os.path.expanduser(path))


def join(base: str, *parts: str) -> str:
    """`base/part/...`; a URI's query stays at the end: `s3://b/p?x=1` + "rows" -> `s3://b/p/rows?x=1`."""
    base, query = split_query(base)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)]) + query


def parent_and_name(uri: str) -> tuple[str, str]:
    """(`s3://b/p?x=1`, "name") from `s3://b/p/name?x=1`; (`/a/b`, "c") from `/a/b/c`."""
    base, query = split_query(uri)
    parent, _, name = base.rstrip("/").rpartition("/")
    return parent + query, name


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if is_uri(uri):
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), normalize(uri)


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_text(uri: str) -> str:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8")


def write_atomic(uri: str, write: Callable[[pafs.FileSystem, str], None], suffix: str = "") -> None:
    """The one atomic write: `write(filesystem, temporary path)` writes beside the target, which is then
    renamed into place, so a reader never sees half a file; a failed write leaves no temporary file.
    Temporary names start with `.tmp-`, which every reader of a study's folders skips."""
    import uuid

    fs, path = filesystem(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}{suffix}"
    try:
        write(fs, tmp)
        fs.move(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            fs.delete_file(tmp)
        raise


def write_bytes_atomic(uri: str, data: bytes) -> None:
    def write(fs: pafs.FileSystem, tmp: str) -> None:
        with fs.open_output_stream(tmp) as f:
            f.write(data)

    write_atomic(uri, write)


def write_text_atomic(uri: str, text: str) -> None:
    write_bytes_atomic(uri, text.encode("utf-8"))


def write_problem(uri: str) -> str | None:
    """Why a study folder could not be written at `uri`, or None when it can; checked before any trial runs.

    A local path is probed in its nearest folder that exists, by creating and deleting one empty file, so
    the check itself creates no folder; a regular file on the way, or a folder without write permission,
    is the problem. A cloud URI is probed by writing and deleting one empty object under it.
    """
    import tempfile
    import uuid
    from pathlib import Path

    if is_uri(uri):
        fs, path = filesystem(uri)
        probe = f"{path.rstrip('/')}/.xstudy-write-probe-{uuid.uuid4().hex}"
        try:
            with fs.open_output_stream(probe):
                pass
            fs.delete_file(probe)
        except Exception as exc:  # noqa: BLE001 - credentials, bucket, network: all say the same to the user
            return f"cannot write there ({type(exc).__name__}: {exc})"
        return None
    existing = Path(normalize(uri))
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".xstudy-write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"the folder {existing} is not writable ({exc.strerror or exc})"
    return None
