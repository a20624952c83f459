"""What the exercises' check cells use to grade an answer that must be written, not called.

An exercise asks the student to write a function that the library already has (``metrics.compute_f1``,
``stats.mean_ci``, ...). Comparing the answer with the library is a fine test of the *values*, but a one-line
call to the library would pass it. :func:`forbid_library` reads the answer's bytecode (and that of the notebook
functions it calls) and fails the check when it reaches a forbidden part of the library, by attribute
(``metrics.compute_f1``), by name imported into the notebook (``from ... import compute_f1``) or by an import
inside the function.
"""
from __future__ import annotations

import builtins
import dis
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_LOAD_NAME = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"}
_LOAD_ATTR = {"LOAD_ATTR", "LOAD_METHOD"}


def _qualified(obj: Any) -> str | None:
    """The dotted name of a module, function or class (None for other objects)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and every code object nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _closure_values(func: types.FunctionType) -> dict[str, Any]:
    cells = func.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(func.__code__.co_freevars, cells)
            if _has_contents(cell)}


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def library_references(func: Callable[..., Any]) -> set[str]:
    """Dotted names of the modules, functions and classes that ``func`` reaches: through globals, attributes
    of modules (``metrics.compute_f1``), imports inside it, and, recursively, the functions of its own module
    (the notebook's other functions) that it calls."""
    seen: set[int] = set()
    found: set[str] = set()
    pending: list[Any] = [func]
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, types.FunctionType):
            continue
        seen.add(id(current))
        namespace = {**vars(builtins), **current.__globals__, **_closure_values(current)}
        for code in _code_objects(current.__code__):
            found.update(_references_in(code, namespace, func.__module__, pending))
    return found


def _references_in(code: types.CodeType, namespace: dict[str, Any], module: str, pending: list[Any]) -> set[str]:
    """The objects one code object reaches: each chain ``name.attr.attr`` resolved to its last object, and
    each import; the notebook's own functions it loads go to ``pending``."""
    found: set[str] = set()
    base: Any = None
    importing: str | None = None
    for instruction in dis.get_instructions(code):
        name, op = instruction.argval, instruction.opname
        if op in _LOAD_ATTR and base is not None and isinstance(name, str):
            base = getattr(base, name, None)
            continue
        if base is not None and _qualified(base):
            found.add(_qualified(base))  # the chain ended: record what it reached
        base = None
        if op in _LOAD_NAME and isinstance(name, str) and name in namespace:
            base = namespace[name]
            if isinstance(base, types.FunctionType) and base.__module__ == module:
                pending.append(base)  # a helper defined in the notebook: read it too
        elif op == "IMPORT_NAME" and isinstance(name, str):
            importing = name
            found.add(name)
        elif op == "IMPORT_FROM" and isinstance(name, str) and importing:
            found.discard(importing)
            found.add(f"{importing}.{name}")
    if base is not None and _qualified(base):
        found.add(_qualified(base))
    return found


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def library_calls(func: Callable[..., Any], forbidden: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """The references of ``func`` that fall under a forbidden dotted prefix and under no allowed one."""
    forbidden, allowed = tuple(forbidden), tuple(allowed)
    return sorted(name for name in library_references(func)
                  if any(_matches(name, f) for f in forbidden) and not any(_matches(name, a) for a in allowed))


def forbid_library(*funcs: Callable[..., Any], forbidden: Iterable[str], allowed: Iterable[str] = ()) -> None:
    """Fail (AssertionError, naming the call) when an answer calls a forbidden part of the library.

    ``forbidden`` and ``allowed`` are dotted prefixes, e.g. ``"albertzero_utils.metrics"`` with
    ``allowed=["albertzero_utils.metrics.normalize_answer"]``.
    """
    forbidden, allowed = tuple(forbidden), tuple(allowed)
    for func in funcs:
        calls = library_calls(func, forbidden, allowed)
        assert not calls, (f"{getattr(func, '__name__', func)} calls {', '.join(calls)}: the exercise is to write "
                           f"this yourself, without the library's version")
