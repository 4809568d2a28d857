"""Durable, atomic publication: complete files only, no partial output after a failure, a consistent index."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cinealert.broadcast.publish import OutputDir, PublishError, atomic_write, update_index

CHILD = r"""
import resource, signal, sys, json
from pathlib import Path
from cinealert.broadcast.publish import OutputDir, PublishError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(), like a full disk's ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
target = Path(sys.argv[1])
try:
    with OutputDir(target) as out:
        out.write("seg_00000.ts", b"x" * 100_000)
        out.write("seg_00001.ts", b"y" * 100_000)
        out.write("seg_00002.ts", b"z" * 1_000_000)  # over the limit
        out.write("manifest.m3u8", b"never")
except PublishError as exc:
    print(json.dumps({"error": type(exc).__name__, "errno": exc.errno, "msg": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def test_output_dir_publishes_complete_files_and_no_temp_names(tmp_path: Path) -> None:
    with OutputDir(tmp_path / "alert") as out:
        out.write("seg_00000.ts", b"a" * 1000)
        out.commit_dir()
        out.write("manifest.m3u8", b"#EXTM3U\n", sync_dir=True)
    names = sorted(p.name for p in (tmp_path / "alert").iterdir())
    assert names == ["manifest.m3u8", "seg_00000.ts"]
    assert (tmp_path / "alert" / "seg_00000.ts").read_bytes() == b"a" * 1000
    assert out.bytes_written == 1008


def test_failure_inside_removes_the_partial_directory(tmp_path: Path) -> None:
    target = tmp_path / "alert"
    with pytest.raises(RuntimeError, match="encoder blew up"), OutputDir(target) as out:
        out.write("seg_00000.ts", b"a")
        raise RuntimeError("encoder blew up")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_names_are_plain_files_inside_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain file names"), OutputDir(tmp_path / "a") as out:
        out.write("../escape.ts", b"x")
    assert not (tmp_path / "escape.ts").exists()


def test_stale_partial_output_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "alert"
    target.mkdir()
    (target / "seg_00000.ts").write_bytes(b"half a segment from a crashed run")
    with OutputDir(target) as out:
        out.write("seg_00000.ts", b"fresh")
    assert (target / "seg_00000.ts").read_bytes() == b"fresh"


def test_file_size_limit_mid_publish_raises_and_leaves_nothing(tmp_path: Path) -> None:
    """A real write failure (RLIMIT_FSIZE -> EFBIG, the same path as ENOSPC) in a child process."""
    target = tmp_path / "alert"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(target)], capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout)
    assert result["error"] == "PublishError"
    assert result["errno"] == 27  # EFBIG
    assert "seg_00002.ts" in result["msg"]
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temp files either


def test_atomic_write_failure_is_a_publish_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PublishError):
        atomic_write(blocker / "x.json", b"{}")


def test_index_updates_from_many_threads_are_not_lost(tmp_path: Path) -> None:
    def worker(n: int) -> None:
        for i in range(10):
            update_index(tmp_path, f"alert-{n}-{i}", {"status": "published"})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index) == 30
    update_index(tmp_path, "alert-0-0", {"status": "withdrawn", "by": "x"})
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["alert-0-0"] == {"status": "withdrawn", "by": "x"}
