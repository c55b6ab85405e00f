"""Marking 2.x names that keep working but should no longer be used."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

__all__ = ("deprecated",)

_F = TypeVar("_F", bound=Callable[..., Any])


def deprecated(
    message: str, category: type[Warning] = DeprecationWarning
) -> Callable[[_F], _F]:
    """Make a function warn ``message`` each time it is called.

    The warning is attributed to the caller's line, so that ``-W error``
    and warning filters point at the code to update. The wrapped function
    keeps its name and docstring (:func:`functools.wraps`).

    :param message: the text of the warning; say what to call instead.
    :param category: the warning class, :class:`DeprecationWarning` by default.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def warn_then_call(*args: Any, **kwargs: Any) -> Any:
            warnings.warn(message, category, stacklevel=2)
            return func(*args, **kwargs)

        return warn_then_call  # type: ignore[return-value]

    return decorate
