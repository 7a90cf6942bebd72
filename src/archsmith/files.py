"""Taking output directories, for export and ``design --out``.

An output directory is written whole or not at all, and nothing a user put there is lost:

- everything is written into a staging directory beside the target, named
  ``.<target>.archsmith-tmp-<pid>-<random>``, then renamed onto the target;
- without ``force`` the rename is a plain ``rename(2)``, which POSIX makes atomic and which
  fails when the target is a non-empty directory: a file written into the target while the
  export ran, or a concurrent export that finished first, makes this one fail, never vanish;
- with ``force`` the target's contents are recorded when it is taken; at the end the target
  is moved aside, compared with that record, and only replaced when nothing changed;
- staging directories of earlier exports whose process is dead (killed mid-export) are
  removed by the next export to the same target. A moved-aside ``.archsmith-old-`` copy is
  never removed that way: it is left only when a forced export lost a race (its error names
  the path) or was killed while swapping, and it may hold what someone else wrote.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from .errors import LoadError

_TAG = ".archsmith-"
_NAME_BYTES = 100  # of the target's name in a temporary's name, so that it stays under NAME_MAX (255)

# The fix that goes with each OSError a user can cause or repair.
_FIXES = {
    errno.ENOSPC: "free some disk space or write to another disk",
    errno.EDQUOT: "free some disk space or write to another disk",
    errno.EACCES: "choose a directory you can write to",
    errno.EPERM: "choose a directory you can write to",
    errno.EROFS: "choose a directory on a writable file system",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.EEXIST: "choose another path",
    errno.ENOENT: "check the path",
    errno.ELOOP: "the path has a symlink loop; choose another path",
}


def os_failure(e: OSError, doing: str) -> LoadError:
    """An archsmith error for an OSError that happened while ``doing`` (e.g. 'writing /x')."""
    fix = _FIXES.get(e.errno or 0, "check the path and try again")
    return LoadError(f"{doing} failed: {e.strerror or e}; fix: {fix}")


# --- taking an output directory -----------------------------------------------------------------


def _snapshot(root: Path) -> list[tuple[str, int, int, int]]:
    """What force may replace: every entry under ``root`` with its inode, size and mtime."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            entries.append((str(path.relative_to(root)), st.st_ino, st.st_size, st.st_mtime_ns))
    return sorted(entries)


def usable_name(name: str | Path) -> bool:
    """Whether the OS can take ``name`` as a path: no NUL byte, every character encodable."""
    try:
        return b"\0" not in os.fsencode(name)
    except UnicodeEncodeError:  # e.g. a lone surrogate, which JSON can carry
        return False


def _check_name(target: Path) -> None:
    if not usable_name(target):
        raise LoadError(
            f"{str(target)!r} cannot be a file name (a NUL byte or a character the file system cannot encode); "
            "fix: choose another name"
        )


def _check_parent(target: Path) -> None:
    """The nearest existing ancestor must be a directory (``/dev/null/x`` has none)."""
    ancestor = next(p for p in target.absolute().parents if p.exists())
    if not ancestor.is_dir():
        raise LoadError(f"{target} cannot be created: {ancestor} is not a directory; fix: choose a path inside a directory")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class OutputDir:
    """A directory to be written whole: checked when made, written in :meth:`write`.

    >>> with OutputDir(path, force=False).write() as staging:
    ...     (staging / "config.json").write_text("{}")
    """

    def __init__(self, target: str | Path, force: bool = False):
        self.target = Path(target)
        self.force = force
        self._checked = self._check()

    def _check(self) -> list | None:
        """Refuse what may not be written; with force, the record of what may be replaced."""
        target = self.target
        _check_name(target)
        try:
            resolved = target.resolve()
            if resolved == Path.cwd() or resolved in Path.cwd().parents:
                raise LoadError(
                    f"{target} is the current directory or a parent of it, which is never replaced; "
                    "fix: name a new subdirectory"
                )
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                raise LoadError(f"{target} exists and is not a directory (a file or a symlink); fix: choose a directory path")
            if not target.exists():
                _check_parent(target)
                return None
            checked = _snapshot(target)
        except OSError as e:
            raise os_failure(e, f"checking {target}") from None
        except RuntimeError:  # what Path.resolve raises on a symlink loop before Python 3.13
            raise LoadError(f"{target} is a symlink loop; fix: choose another path") from None
        if checked and not self.force:
            raise LoadError(f"{target} exists and is not empty; fix: choose another directory or pass force=True (CLI: --force)")
        return [(".", target.stat().st_ino, 0, 0)] + checked

    def _prefix(self, kind: str) -> str:
        name = os.fsencode(self.target.name)[:_NAME_BYTES].decode(errors="ignore")
        return f".{name}{_TAG}{kind}-"

    def _remove_stale(self) -> None:
        """Remove this target's staging directories left by exports that were killed."""
        prefix = self._prefix("tmp")
        for path in self.target.parent.glob(glob.escape(prefix) + "*"):
            pid = path.name[len(prefix):].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
        old = self._prefix("old")
        for path in self.target.parent.glob(glob.escape(old) + "*"):
            pid = path.name[len(old):].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):  # kept: it may hold what someone else wrote
                warnings.warn(f"{path} is the previous {self.target.name} moved aside by a forced export that was "
                              "killed; it is kept because it may hold files someone else wrote; fix: inspect it, "
                              "then delete it", stacklevel=2)

    def _temporary(self, kind: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{self._prefix(kind)}{os.getpid()}-", dir=self.target.parent))

    @contextlib.contextmanager
    def write(self) -> Iterator[Path]:
        """Yield an empty staging directory; when the block ends without error, it becomes the target."""
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._remove_stale()
            staging = self._temporary("tmp")
        except OSError as e:
            raise os_failure(e, f"creating {self.target}") from None
        try:
            try:
                yield staging
                _publish_permissions(staging)
            except OSError as e:
                raise os_failure(e, f"writing {self.target}") from None
            self._publish(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, staging: Path) -> None:
        if self._checked is None or not self.force:
            self._rename_into_place(staging)
            return
        old = self._temporary("old")
        try:
            os.replace(self.target, old)  # old is an empty directory, which rename may replace
        except OSError as e:
            old.rmdir()
            if isinstance(e, FileNotFoundError):
                raise self._changed("was removed by someone else") from None
            raise os_failure(e, f"replacing {self.target}") from None
        if [(".", old.stat().st_ino, 0, 0)] + _snapshot(old) != self._checked:
            self._restore(old)
            raise self._changed("was changed by someone else")
        try:
            self._rename_into_place(staging)
        except LoadError as e:
            raise LoadError(f"{e} (what was there is kept in {old})") from None
        shutil.rmtree(old, ignore_errors=True)

    def _rename_into_place(self, staging: Path) -> None:
        try:
            os.rename(staging, self.target)  # fails if the target is now a non-empty directory or a file
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise self._changed("was written to by someone else") from None
            raise os_failure(e, f"renaming the finished export to {self.target}") from None

    def _restore(self, old: Path) -> None:
        try:
            os.rename(old, self.target)
        except OSError:
            raise self._changed(f"was changed by someone else (what was there is kept in {old})") from None

    def _changed(self, what: str) -> LoadError:
        return LoadError(
            f"{self.target} {what} while archsmith was writing it, so nothing was replaced; "
            "fix: make sure nothing else writes there, then run again"
        )


def _publish_permissions(staging: Path) -> None:
    """mkdtemp makes the staging directory private (0700); give the output the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    for path in staging.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
