"""Utility tasks and task factories for workflow definitions.

Everything here either *is* a task (``EMPTY_CALL``) or *returns* one: a
callable taking ``(obj, eng)`` that can be put in a definition. Each factory
accepts an optional ``comment=`` keyword that becomes the docstring of the
task it returns (see ``with_nice_docs``).
"""

from __future__ import annotations

import cProfile
import functools
import importlib
import logging
import pstats
import sys
import time
import traceback
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, TypeVar

from .._observe import log_extra
from .._pattern import Pattern
from ..errors import WorkflowError, WorkflowTransition

__all__ = (
    "CALLFUNC",
    "DEBUG_CYCLE",
    "EMPTY_CALL",
    "ENG_GET",
    "ENG_SET",
    "ERROR",
    "OBJ_GET",
    "OBJ_SET",
    "PROFILE",
    "RUN_WF",
    "TRY",
    "with_nice_docs",
)

Task = Callable[[Any, Any], Any]
"""A task: any callable taking ``(obj, eng)``."""

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------
# Helpers shared with the control-flow patterns


def with_nice_docs(factory: _F) -> _F:
    """Let a task factory take ``comment=`` and document what it returns.

    The wrapped factory accepts an extra ``comment`` keyword argument. The
    task it returns (for a block, the first task of the block that the
    factory itself created) gets ``comment`` as its docstring, or, without
    one, an automatic docstring naming the factory and its arguments::

        TASK_JUMP_IF: args(<function check at 0x7f...>, 2); kwargs().
        FOR: args(range(0, 3), i, [...]); kwargs(order<<class 'str'>>).

    Positional arguments are rendered with ``str()``; keyword arguments show
    their name and type only. The wrapper always takes ``comment`` for
    itself: it never reaches the factory.

    Only tasks created by the factory call are given a docstring: their
    qualified name starts with ``<factory>.<locals>.``. A function written by
    the user and passed in (the first branch of a ``SIMPLE_MERGE``, say)
    keeps its own docstring.

    Example::

        @with_nice_docs
        def ADD(number):
            def _add(obj, eng):
                obj.append(number)
            return _add

        ADD(3).__doc__                       # 'ADD: args(3); kwargs().'
        ADD(3, comment="Add three").__doc__  # 'Add three'
    """
    prefix = factory.__qualname__ + ".<locals>."

    @functools.wraps(factory)
    def wrapper(*args: Any, comment: str | None = None, **kwargs: Any) -> Any:
        result = factory(*args, **kwargs)
        target = _own_task(result, prefix)
        if target is not None:
            if comment is None:
                comment = _automatic_doc(factory.__name__, args, kwargs)
            target.__doc__ = comment
        return result

    return wrapper  # type: ignore[return-value]


def _own_task(result: Any, prefix: str) -> Any:
    """The task of ``result`` made by the factory whose locals are ``prefix``."""
    candidates = result if isinstance(result, list) else [result]
    for item in candidates:
        if getattr(item, "__qualname__", "").startswith(prefix):
            return item
    return None


def _automatic_doc(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    positional = ", ".join(str(arg) for arg in args)
    keywords = ", ".join(f"{key}<{type(value)}>" for key, value in kwargs.items())
    return f"{name}: args({positional}); kwargs({keywords})."


def _describe(value: Any) -> str:
    return f"{value!r:.80} ({type(value).__name__})"


def _check_task(factory: str, argument: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(
            f"{factory}: {argument} must be a task (a callable taking"
            f" (obj, eng)); got {_describe(value)}"
        )


def _check_task_or_block(factory: str, argument: str, value: Any) -> None:
    if not (callable(value) or isinstance(value, (list, tuple))):
        raise TypeError(
            f"{factory}: {argument} must be a task (a callable taking"
            f" (obj, eng)) or a list of tasks; got {_describe(value)}"
        )


def _new_engine(eng: Any, factory: str, engine_class: Any = None) -> Any:
    """A fresh engine of ``engine_class`` (default: the class of ``eng``)."""
    cls = engine_class if engine_class is not None else type(eng)
    try:
        return cls()
    except TypeError as exc:
        raise WorkflowError(
            f"{factory} runs blocks in a new engine of class {cls.__name__},"
            f" but {cls.__name__}() failed: {exc}. The engine class must be"
            " constructible without arguments; pass a single task instead of"
            " a block, or use an engine class whose __init__ needs no argument"
        ) from exc


def _block_runner(eng: Any, block: Any, obj: Any, factory: str) -> Callable[[], None]:
    """A callable running ``block`` over ``[obj]`` in a new engine."""
    sub = _new_engine(eng, factory)
    sub.callbacks.replace(block)
    return functools.partial(sub.process, [obj])


# --------------------------------------------------------------------------
# Simple tasks


def EMPTY_CALL(obj: Any, eng: Any) -> None:
    """A task that does nothing (a placeholder in a definition).

    Example::

        eng.callbacks.replace([EMPTY_CALL])
    """


@with_nice_docs
def ENG_GET(key: Any) -> Task:
    """Return a task returning ``eng.extra_data[key]`` (``None`` stored if missing).

    Mostly used as a condition. Example::

        IF(ENG_GET("ready"), [publish])
    """

    def _eng_get(obj: Any, eng: Any) -> Any:
        return eng.extra_data.setdefault(key, None)

    return Pattern("ENG_GET", params={"key": key}).attach(_eng_get)


@with_nice_docs
def ENG_SET(key: Any, value: Any) -> Task:
    """Return a task setting ``eng.extra_data[key] = value``.

    Example::

        [ENG_SET("ready", True), IF(ENG_GET("ready"), [publish])]
    """

    def _eng_set(obj: Any, eng: Any) -> None:
        eng.extra_data[key] = value

    return Pattern("ENG_SET", params={"key": key, "value": value}).attach(_eng_set)


_OBJ_GET_CONDITIONS = ("all", "any", "many")


@with_nice_docs
def OBJ_GET(something: str | Iterable[str], cond: str = "all") -> Task:
    """Return a task reading one or several keys of the object.

    :param something: one key, or a list of keys.
    :param cond: for a list of keys: ``'any'`` returns the first truthy
        value (``None`` when there is none); ``'many'`` a dict of the keys
        with truthy values; ``'all'`` that dict when every key is truthy,
        else ``False``.

    For one key the task returns ``key in obj and obj[key]``. Example::

        IF(OBJ_GET(["title", "author"]), [index_record])
    """
    if not isinstance(cond, str) or cond.lower() not in _OBJ_GET_CONDITIONS:
        raise ValueError(
            f"OBJ_GET: cond must be 'all', 'any' or 'many'; got {_describe(cond)}"
        )
    mode = cond.lower()
    single = isinstance(something, str)
    keys = something if single else list(something)

    def _obj_get(obj: Any, eng: Any) -> Any:
        if single:
            return keys in obj and obj[keys]
        found = {}
        for key in keys:
            value = key in obj and obj[key]
            if value:
                if mode == "any":
                    return value
                found[key] = value
            elif mode == "all":
                return False
        return None if mode == "any" else found

    return Pattern("OBJ_GET", params={"something": something, "cond": mode}).attach(
        _obj_get
    )


@with_nice_docs
def OBJ_SET(key: Any, value: Any) -> Task:
    """Return a task setting ``obj[key] = value``.

    Example::

        [OBJ_SET("status", "checked")]
    """

    def _obj_set(obj: Any, eng: Any) -> None:
        obj[key] = value

    return Pattern("OBJ_SET", params={"key": key, "value": value}).attach(_obj_set)


@with_nice_docs
def ERROR(msg: str = "Error in the workflow") -> Task:
    """Return a task raising ``Exception("in <file> : <msg>")``.

    ``<file>`` is the source file of the module that built the definition,
    so the error tells where the failing workflow was written. Example::

        IF_NOT(is_valid, [ERROR("invalid record")])
    """
    frame = sys._getframe(1)
    # Skip this package's own frames (the with_nice_docs wrapper) to reach
    # the module that wrote the definition.
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    caller = frame.f_globals.get("__file__") or ""
    message = f"in {caller} : {msg}"

    def _error(obj: Any, eng: Any) -> None:
        raise Exception(message)

    return Pattern("ERROR", params={"msg": msg}).attach(_error)


# --------------------------------------------------------------------------
# Error handling


def _is_exception_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


@with_nice_docs
def TRY(
    onecall: Task,
    retry: int = 1,
    onfailure: Any = Exception,
    verbose: bool = True,
) -> Task:
    """Return a task running ``onecall`` again when it fails.

    :param onecall: the task to run.
    :param retry: how many times to run it again after a failure, so it runs
        at most ``1 + retry`` times.
    :param onfailure: what happens after the last failure: an exception
        class is raised with a message naming the task (chained from the
        last failure), an exception instance is raised as it is (chained),
        any other callable is called as ``onfailure(obj, eng)``, and ``None``
        gives up silently.
    :param verbose: log each failure, with its traceback, on ``eng.log``.

    Control-flow exceptions (``halt()``, ``jump_call()``...) pass through at
    once and are never retried. The task returns what ``onecall`` returned.
    Example::

        TRY(fetch_remote_record, retry=2, onfailure=HALT())
    """
    _check_task("TRY", "onecall", onecall)
    if isinstance(retry, bool) or not isinstance(retry, int):
        raise TypeError(f"TRY: retry must be an int; got {_describe(retry)}")
    if retry < 0:
        raise ValueError(f"TRY: retry must not be negative; got {retry}")
    if not (
        onfailure is None or callable(onfailure) or isinstance(onfailure, BaseException)
    ):
        raise TypeError(
            "TRY: onfailure must be an exception class or instance, a callable"
            f" taking (obj, eng), or None; got {_describe(onfailure)}"
        )
    attempts = 1 + retry
    name = getattr(onecall, "__name__", repr(onecall))

    def _try(obj: Any, eng: Any) -> Any:
        failure: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                return onecall(obj, eng)
            except WorkflowTransition:
                raise
            except Exception as exc:
                failure = exc
                if verbose and eng.log.isEnabledFor(logging.ERROR):
                    eng.log.error(
                        "TRY: attempt %d of %d of %s failed",
                        attempt,
                        attempts,
                        name,
                        exc_info=True,
                        extra=log_extra(eng, onecall),
                    )
        if onfailure is None:
            return None
        if isinstance(onfailure, BaseException):
            raise onfailure from failure
        if _is_exception_class(onfailure):
            raise onfailure(
                f"TRY: {name} failed {attempts} time(s); last error: {failure!r}"
            ) from failure
        return onfailure(obj, eng)

    pattern = Pattern(
        "TRY",
        tasks=tuple(t for t in (onecall, onfailure) if callable(t)),
        shape=(attempts,),
        params={"onecall": onecall, "retry": retry, "onfailure": onfailure},
    )
    return pattern.attach(_try)


# --------------------------------------------------------------------------
# Running other workflows and functions


@with_nice_docs
def RUN_WF(
    workflow: Any,
    engine: Any = None,
    data_connector: Task | None = None,
    pass_eng: Iterable[Any] = (),
    pass_always: bool | None = None,
    outkey: Any = "RUN_WF",
    reinit: bool = False,
) -> Task:
    """Return a task running another workflow in a sub-engine.

    :param workflow: the definition to run (a list of tasks, or one task).
    :param engine: class of the sub-engine; default: the calling engine's.
    :param data_connector: ``data_connector(obj, eng)`` returns the objects
        the sub-engine processes. Without it, an object that is a list is
        processed as the list of objects, any other object as ``[obj]``.
    :param pass_eng: keys copied from the caller's ``extra_data`` into the
        sub-engine's, when the sub-engine is created (every call with
        ``pass_always`` or ``reinit``).
    :param pass_always: copy the ``pass_eng`` keys at every call.
    :param outkey: the sub-engine is kept at ``eng.extra_data[outkey]``, so
        the caller can inspect it and its ``extra_data`` survives between
        calls. With ``outkey=None`` it is kept privately, per calling engine.
    :param reinit: make a new sub-engine at every call (needs ``outkey``).

    Exceptions of the sub-workflow, a halt included, reach the calling
    engine. Example::

        RUN_WF([normalize, validate], pass_eng=["config"], outkey="checker")
    """
    if not (callable(workflow) or isinstance(workflow, (list, tuple))):
        raise TypeError(
            "RUN_WF: workflow must be a definition (a list of tasks) or a task;"
            f" got {_describe(workflow)}"
        )
    if engine is not None and not callable(engine):
        raise TypeError(
            f"RUN_WF: engine must be an engine class; got {_describe(engine)}"
        )
    if data_connector is not None:
        _check_task("RUN_WF", "data_connector", data_connector)
    if reinit and not outkey:
        raise ValueError(
            "RUN_WF: reinit=True needs an outkey under which the new sub-engine"
            " is stored; pass outkey='some_key'"
        )
    definition = workflow if isinstance(workflow, (list, tuple)) else [workflow]
    keys = tuple(pass_eng)
    private: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def _run_wf(obj: Any, eng: Any) -> None:
        sub: Any = None
        if not reinit:
            sub = eng.extra_data.get(outkey) if outkey else private.get(eng)
        created = sub is None
        if created:
            sub = _new_engine(eng, "RUN_WF", engine)
            sub.callbacks.replace(definition)
        if created or pass_always:
            for key in keys:
                if key not in eng.extra_data:
                    raise KeyError(
                        f"RUN_WF: pass_eng names {key!r}, which the calling"
                        " engine's extra_data does not have"
                    )
                sub.extra_data[key] = eng.extra_data[key]
        # Kept only once it has its pass_eng keys: a sub-engine kept after a
        # missing key would never get them (later calls are not the first).
        if created:
            if outkey:
                eng.extra_data[outkey] = sub
            else:
                private[eng] = sub
        if data_connector is not None:
            data = data_connector(obj, eng)
        elif isinstance(obj, list):
            data = obj
        else:
            data = [obj]
        sub.process(data)

    pattern = Pattern(
        "RUN_WF",
        tasks=(definition, *(t for t in (data_connector,) if t is not None)),
        params={"workflow": definition, "engine": engine, "outkey": outkey},
    )
    return pattern.attach(_run_wf)


def _resolve_function(func: Any) -> tuple[Callable[..., Any], Any]:
    """``(function, module)`` for a callable or a dotted path."""
    if isinstance(func, str):
        module_name, _, attribute = func.rpartition(".")
        if not module_name:
            raise ValueError(
                "CALLFUNC: func must be a callable or a dotted path such as"
                f" 'package.module.function'; got {func!r}"
            )
        module = importlib.import_module(module_name)
        try:
            function = getattr(module, attribute)
        except AttributeError:
            raise ValueError(
                f"CALLFUNC: module {module_name!r} has no attribute {attribute!r}"
                f" (func={func!r})"
            ) from None
        if not callable(function):
            raise TypeError(
                f"CALLFUNC: {func!r} is {_describe(function)}, not callable"
            )
        return function, module
    if not callable(func):
        raise TypeError(
            f"CALLFUNC: func must be a callable or a dotted path; got {_describe(func)}"
        )
    return func, sys.modules.get(getattr(func, "__module__", None) or "")


def _reloaded(function: Callable[..., Any], module: Any) -> Callable[..., Any]:
    """``function`` as found in ``module`` after reloading the module."""
    if module is None:
        return function
    module = importlib.reload(module)
    found: Any = module
    for part in getattr(function, "__qualname__", "<locals>").split("."):
        found = getattr(found, part, None)
    return found if callable(found) else function


def _lookup(container: Any, key: Any) -> tuple[bool, Any]:
    """``(True, container[key])`` if ``container`` has ``key``, else ``(False, None)``.

    A sequence is indexed by an integer key: ``in`` would test whether the
    key is one of its items, not one of its indexes.
    """
    if isinstance(container, Sequence) and isinstance(key, int):
        try:
            return True, container[key]
        except IndexError:
            return False, None
    try:
        if key in container:
            return True, container[key]
    except TypeError:
        pass
    return False, None


@with_nice_docs
def CALLFUNC(
    func: Any,
    outkey: Any = None,
    debug: bool = False,
    stopper: Callable[..., Any] | None = None,
    args: Sequence[Any] = (),
    oeargs: Sequence[str] = (),
    ekeys: Mapping[str, Any] | None = None,
    okeys: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Task:
    """Return a task calling an ordinary function with values of the run.

    :param func: the function, or its dotted path (``'package.module.name'``,
        imported when the definition is built).
    :param outkey: store the result at ``obj[outkey]``.
    :param debug: on an error, log it, reload the function's module and call
        again, until ``stopper`` returns true (then the error is raised).
    :param stopper: called with the function's own arguments after a failed
        call; needed with ``debug``.
    :param args: positional arguments, first.
    :param oeargs: keys whose values follow ``args``: ``'Okey'`` is
        ``obj['key']``, ``'Ekey'`` is ``eng.extra_data['key']``, a bare key
        comes from the object if it has it, else from ``extra_data``.
    :param ekeys: keyword argument name -> ``extra_data`` key.
    :param okeys: keyword argument name -> object key (an index for an
        object that is a sequence).
    :param kwargs: more keyword arguments, passed as they are.

    A missing key or index raises ``KeyError`` naming it. Arguments are built anew at
    every call. Example::

        CALLFUNC("os.path.join", outkey="path", args=["/data"], oeargs=["Oname"])
    """
    function, module = _resolve_function(func)
    if debug and stopper is None:
        raise ValueError(
            "CALLFUNC: debug=True needs a stopper callable that tells when to"
            " stop retrying"
        )
    if stopper is not None and not callable(stopper):
        raise TypeError(f"CALLFUNC: stopper must be callable; got {_describe(stopper)}")
    fixed_args = tuple(args)
    value_keys = tuple(oeargs)
    for key in value_keys:
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"CALLFUNC: oeargs must be non-empty strings; got {_describe(key)}"
            )
    engine_keys = dict(ekeys or {})
    object_keys = dict(okeys or {})
    fixed_kwargs = dict(kwargs)
    name = getattr(function, "__name__", str(func))

    def _arguments(obj: Any, eng: Any) -> tuple[list[Any], dict[str, Any]]:
        call_args = list(fixed_args)
        for key in value_keys:
            prefix, rest = key[0], key[1:]
            if prefix == "O":
                found, value = _lookup(obj, rest)
                where = "the object"
            elif prefix == "E":
                found, value = _lookup(eng.extra_data, rest)
                where = "eng.extra_data"
            else:
                found, value = _lookup(obj, key)
                if not found:
                    found, value = _lookup(eng.extra_data, key)
                rest, where = key, "the object nor eng.extra_data"
            if not found:
                raise KeyError(
                    f"CALLFUNC({name}): oeargs entry {key!r} names key {rest!r},"
                    f" which is not in {where}"
                )
            call_args.append(value)
        call_kwargs = dict(fixed_kwargs)
        for argument, key in engine_keys.items():
            found, call_kwargs[argument] = _lookup(eng.extra_data, key)
            if not found:
                raise KeyError(
                    f"CALLFUNC({name}): ekeys maps {argument!r} to {key!r},"
                    " which is not in eng.extra_data"
                )
        for argument, key in object_keys.items():
            found, call_kwargs[argument] = _lookup(obj, key)
            if not found:
                raise KeyError(
                    f"CALLFUNC({name}): okeys maps {argument!r} to {key!r},"
                    " which is not in the object"
                )
        return call_args, call_kwargs

    def _callfunc(obj: Any, eng: Any) -> None:
        call_args, call_kwargs = _arguments(obj, eng)
        target = function
        while True:
            try:
                result = target(*call_args, **call_kwargs)
                break
            except Exception:
                if not debug:
                    raise
                if eng.log.isEnabledFor(logging.ERROR):
                    eng.log.error(
                        "CALLFUNC(%s) failed",
                        name,
                        exc_info=True,
                        extra=log_extra(eng, target),
                    )
                if stopper(*call_args, **call_kwargs):  # type: ignore[misc]
                    raise
                target = _reloaded(target, module)
        if outkey is not None:
            obj[outkey] = result

    pattern = Pattern(
        "CALLFUNC",
        tasks=(function,),
        params={"func": function, "outkey": outkey},
    )
    return pattern.attach(_callfunc)


# --------------------------------------------------------------------------
# Development aids


_SORT_KEYS = frozenset(pstats.Stats.sort_arg_dict_default)


@with_nice_docs
def PROFILE(
    call: Any,
    output: str | None = None,
    stats: Sequence[str] = ("time", "calls", "cumulative", "pcalls"),
) -> Task:
    """Return a task running ``call`` under ``cProfile``.

    :param call: a task, or a block (run over ``[obj]`` in a new engine of
        the calling engine's class, so jumps inside it work).
    :param output: file to save the profile to; a text report per sort key
        then goes to ``<output>.stats-<key>``. Without it, one report sorted
        by ``stats`` is printed.
    :param stats: ``pstats`` sort keys.

    The reports are written even when ``call`` fails; the failure is then
    raised. Example::

        PROFILE([parse, enrich], output="enrich.prof")
    """
    _check_task_or_block("PROFILE", "call", call)
    sort_keys = (stats,) if isinstance(stats, str) else tuple(stats)
    for key in sort_keys:
        if key not in _SORT_KEYS:
            raise ValueError(
                f"PROFILE: stats has {key!r}, which is not a pstats sort key;"
                f" use some of {sorted(_SORT_KEYS)}"
            )

    def _profile(obj: Any, eng: Any) -> None:
        if isinstance(call, (list, tuple)):
            run = _block_runner(eng, call, obj, "PROFILE")
        else:
            run = functools.partial(call, obj, eng)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            run()
        finally:
            profiler.disable()
            _report(profiler, output, sort_keys)

    pattern = Pattern(
        "PROFILE",
        tasks=(call,),
        params={"call": call, "output": output},
    )
    return pattern.attach(_profile)


def _report(
    profiler: cProfile.Profile, output: str | None, keys: Sequence[str]
) -> None:
    if output is None:
        report = pstats.Stats(profiler, stream=sys.stdout)
        if keys:
            report.sort_stats(*keys)
        report.print_stats()
        return
    profiler.dump_stats(output)
    for key in keys:
        with open(f"{output}.stats-{key}", "w", encoding="utf-8") as stream:
            report = pstats.Stats(output, stream=stream)
            report.strip_dirs()
            report.sort_stats(key)
            report.print_stats()


@with_nice_docs
def DEBUG_CYCLE(
    stmt: str,
    setup: str | None = None,
    onerror: str | None = None,
    debug_stopper: Task | None = None,
    **kwargs: Any,
) -> Task:
    """Return a task running a Python statement again and again (a dev aid).

    :param stmt: the statement, run with ``obj``, ``eng`` and ``kwargs`` as
        names; an error is printed with its traceback (on standard error),
        not raised.
    :param setup: a statement run before each run of ``stmt``.
    :param onerror: a statement run, after ``setup``, before each run that
        follows a failed one.
    :param debug_stopper: ``debug_stopper(obj, eng)`` is asked after each
        run; the cycle ends when it returns true. Without it, ``stmt`` runs
        once.
    :param kwargs: more names for the statements.

    Each run prints ``DEBUG_CYCLE: run <n> took <seconds> s``. Edit and
    reload your code between runs, and let ``debug_stopper`` end the cycle.
    Example::

        DEBUG_CYCLE("mymodule.enrich(obj)", setup="import importlib, mymodule;"
                    " importlib.reload(mymodule)", debug_stopper=done)
    """
    code = _compile("stmt", stmt)
    setup_code = None if setup is None else _compile("setup", setup)
    onerror_code = None if onerror is None else _compile("onerror", onerror)
    if debug_stopper is not None:
        _check_task("DEBUG_CYCLE", "debug_stopper", debug_stopper)
    names = dict(kwargs)

    def _debug_cycle(obj: Any, eng: Any) -> None:
        failed = False
        run = 0
        while True:
            run += 1
            namespace = dict(names, obj=obj, eng=eng)
            if setup_code is not None:
                exec(setup_code, namespace)
            if failed and onerror_code is not None:
                exec(onerror_code, namespace)
            start = time.perf_counter()
            try:
                exec(code, namespace)
                failed = False
            except Exception:
                traceback.print_exc()
                failed = True
            print(f"DEBUG_CYCLE: run {run} took {time.perf_counter() - start:.6f} s")
            if debug_stopper is None or debug_stopper(obj, eng):
                return

    return Pattern(
        "DEBUG_CYCLE",
        params={"stmt": stmt},
    ).attach(_debug_cycle)


def _compile(argument: str, source: Any) -> Any:
    if not isinstance(source, str):
        raise TypeError(
            f"DEBUG_CYCLE: {argument} must be a string of Python code;"
            f" got {_describe(source)}"
        )
    return compile(source, f"<DEBUG_CYCLE {argument}>", "exec")
