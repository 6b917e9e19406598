"""Atomic file output: a file or folder appears whole or not at all.

Writers create a temporary sibling (same folder, so the final ``os.replace`` is a
rename on one file system) and move it into place only after it was written
completely.  A crash or Ctrl-C leaves the user's previous file untouched.
"""

import contextlib
import os
import shutil
import tempfile

from soundtransform.errors import DataError


def check_output_path(path):
    """Fail clearly if ``path`` cannot be written: missing or read-only folder."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise DataError(f"output {path} is a directory, expected a file name")
    if not os.path.isdir(parent):
        raise DataError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise DataError(f"output folder {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The final file name.
    suffix : str, optional
        Suffix for the temporary file (writers that pick the format from the
        extension need it); defaults to ``path``'s own extension.
    """
    path = check_output_path(path)
    parent, name = os.path.split(path)
    if suffix is None:
        suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part" + suffix, dir=parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide outputs from other users
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder next to ``path``; rename it to ``path`` on success.

    ``path`` must not exist yet (versions are never overwritten in place).
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(path):
        raise DataError(f"{path} already exists")
    tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
