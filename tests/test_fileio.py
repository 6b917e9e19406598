import inspect
import os
import stat
import sys

import pytest

from soundtransform import fileio
from soundtransform.errors import DataError


def _line_after(function, text):
    """The source line number just after the line of ``function`` containing ``text``."""
    lines, first = inspect.getsourcelines(inspect.unwrap(function))
    return first + next(i for i, line in enumerate(lines) if text in line) + 1


def _interrupt_at(code, lineno):
    """A tracer that raises KeyboardInterrupt when ``code`` reaches ``lineno`` (a Ctrl-C landing there)."""

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == lineno:
            raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    return tracer


@pytest.mark.parametrize("context", [fileio.atomic_dir, fileio.atomic_path], ids=["dir", "file"])
def test_ctrl_c_just_after_the_temporary_exists_removes_it(tmp_path, context):
    """The moment between creating the hidden temporary and entering the body is covered too.

    CI once left ``.2.XXXX.part`` behind after a Ctrl-C: ``tempfile.mkdtemp``
    hands back the name only after the folder exists, so an interrupt landing
    in between escaped the clean-up.
    """
    code = inspect.unwrap(context).__code__
    lineno = _line_after(context, "_create(")
    target = tmp_path / "out"
    sys.settrace(_interrupt_at(code, lineno))
    try:
        with pytest.raises(KeyboardInterrupt):
            with context(target):
                pytest.fail("the body must not run")
    finally:
        sys.settrace(None)
    assert os.listdir(tmp_path) == []


def test_interrupted_body_keeps_the_previous_file(tmp_path):
    path = tmp_path / "notes.txt"
    fileio.write_text(path, "old\n")
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_outputs_get_the_umask_mode_not_private(tmp_path):
    """mkstemp's 0600 would hide a shared model or sound from other users."""
    old = os.umask(0o022)
    try:
        fileio.write_text(tmp_path / "a.txt", "x")
        with fileio.atomic_dir(tmp_path / "d") as tmp:
            fileio.write_text(os.path.join(tmp, "inner.txt"), "y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o755
    assert (tmp_path / "d" / "inner.txt").read_text() == "y"


def test_atomic_dir_refuses_an_existing_version(tmp_path):
    (tmp_path / "1").mkdir()
    with pytest.raises(DataError, match="already exists"):
        with fileio.atomic_dir(tmp_path / "1"):
            pass
    assert os.listdir(tmp_path) == ["1"]
