"""Atomic file output: a file or folder appears whole or not at all.

Writers create a temporary sibling (same folder, so the final ``os.replace`` is a
rename on one file system) and move it into place only after it was written
completely.  A crash or Ctrl-C leaves the user's previous file untouched.
"""

import contextlib
import os
import secrets
import shutil

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
    tmp = _sibling(parent, name, ".part" + suffix)
    try:
        _create(tmp, lambda: os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if not _Taken.for_path(exc, tmp):
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
    tmp = _sibling(parent, name, ".part")
    try:
        _create(tmp, lambda: os.mkdir(tmp))
        yield tmp
        os.rename(tmp, path)
    except BaseException as exc:
        if not _Taken.for_path(exc, tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sibling(parent, name, suffix):
    """A hidden, unused name next to ``name``: ``.NAME.RANDOM<suffix>``."""
    return os.path.join(parent, f".{name}.{secrets.token_hex(8)}{suffix}")


def _create(tmp, make):
    """Run ``make()`` to create ``tmp``; a name taken by someone else is not ours to clean up.

    The temporary's name is known before it exists, so a Ctrl-C that lands the
    moment after it is created still finds it inside the caller's ``try`` and
    removes it (``tempfile.mkstemp``/``mkdtemp`` would return the name only
    after that moment).  The mode is the plain one less the umask, so outputs
    stay readable by other users.
    """
    try:
        make()
    except FileExistsError:
        raise _Taken(tmp) from None


class _Taken(DataError):
    """The temporary's random name was taken: someone else's file, left alone."""

    def __init__(self, path):
        super().__init__(f"{path} exists already; is another soundtransform writing here?")
        self.path = path

    @classmethod
    def for_path(cls, exc, path):
        """Whether ``exc`` says ``path`` was someone else's."""
        return isinstance(exc, cls) and exc.path == path


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
