"""Writing a file whole or not at all, without touching anything the user owns.

``writing(target)`` yields a fresh temp path in the target's directory, made with ``O_CREAT | O_EXCL``
(``tempfile.mkstemp``: never an existing file, never through a symlink someone planted, never a user's own
``<target>.partial``), and on success gives it the permissions an ordinary new file gets (``0666 & ~umask``,
not mkstemp's 0600) and renames it over the target (atomic on one filesystem). On any failure, a full disk
included, the temp file is removed even if closing the writer raised too. A process killed mid-write leaves
its temp file behind; the next ``writing`` of the same target removes the ones whose process is gone (their
names carry the writer's process id and end in ``.qnext-partial``, a name nobody else writes). Knows nothing
about what is written (GGUF files, routing traces).

    with writing(Path("model.gguf")) as tmp:
        write_everything_to(tmp)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "clean_stale", "umask", "writing"]

TEMP_SUFFIX = ".qnext-partial"


def umask() -> int:
    """The process umask, read without changing it where the system says it (Linux); else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale(target: Path) -> None:
    """Remove temp files of earlier writes of ``target`` whose writing process no longer runs."""
    pattern = re.compile(re.escape(f".{target.name}.") + r"[^/]*\.(\d+)" + re.escape(TEMP_SUFFIX) + "$")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            try:
                os.unlink(target.parent / name)
            except OSError:
                pass


@contextmanager
def writing(target: str | os.PathLike) -> Iterator[Path]:
    """A temp path to write ``target``'s new content into; renamed over ``target`` when the block succeeds."""
    target = Path(target)
    clean_stale(target)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".{os.getpid()}{TEMP_SUFFIX}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
