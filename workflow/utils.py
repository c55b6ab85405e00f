"""Descriptors used by the engine classes to expose overridable classes."""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

__all__ = ("classproperty", "staticproperty")

_T = TypeVar("_T")


class classproperty(Generic[_T]):
    """A read-only property computed from the class.

    Reading the attribute on the class or on any instance calls the wrapped
    function with the class::

        class Engine:
            @classproperty
            def processing_factory(cls):
                return MyProcessingFactory

    Subclasses override it by defining the attribute again.
    """

    def __init__(self, fget: Callable[[Any], _T]) -> None:
        self.fget = fget
        self.__doc__ = fget.__doc__
        self.__name__: str = getattr(fget, "__name__", type(self).__name__)

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        if owner is None:
            owner = type(instance)
        return self.fget(owner)


class staticproperty(Generic[_T]):
    """A read-only property computed by a function taking no argument.

    Reading the attribute on the class or on any instance calls the wrapped
    function with no argument::

        class Engine:
            @staticproperty
            def processing_factory():
                return MyProcessingFactory
    """

    def __init__(self, fget: Callable[[], _T]) -> None:
        self.fget = fget
        self.__doc__ = fget.__doc__
        self.__name__: str = getattr(fget, "__name__", type(self).__name__)

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        return self.fget()
