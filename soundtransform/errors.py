"""The project's error types.

Every failure a user can cause (a bad path, a file that is not audio, an unknown
family or method) raises one of these with a one-line message that names the bad
value and, where there is a list, the allowed ones.  The CLI turns them into a
one-line ``Error: ...`` and an exit status; nothing else should escape to a user.
"""


class SoundTransformError(Exception):
    """Base class of every error the project raises on purpose."""

    exit_code = 1


class ParameterError(SoundTransformError):
    """Malformed usage: an unknown name, a value out of range (exit status 2)."""

    exit_code = 2


class DataError(SoundTransformError):
    """Bad data: a missing, unreadable, empty or silent file (exit status 1)."""

    exit_code = 1


def check_choice(name, value, allowed):
    """Raise `ParameterError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ParameterError(
            f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}"
        )
    return value


class MissingFamilies(ParameterError):
    """A method that translates between two families was not given both; ``method`` names it."""

    def __init__(self, method):
        super().__init__(f"{method} translates between two families: give a source and a target "
                         "(e.g. flute, keyboard)")
        self.method = method


def with_setting(error, setting):
    """``error``, whose message ends with the setting ``key=value`` to use, marked so that the command line
    can name it as it is given there (``--set key=value``); returns ``error``."""
    error.setting = setting
    return error
