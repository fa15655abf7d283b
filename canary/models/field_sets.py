"""One set of field names per model class, shared by the models a remediation keeps.

Pydantic gives every model instance its own set of the fields it was given
(``__pydantic_fields_set__``): 216 bytes for up to four names, 728 for up to eighteen. Of the
Python objects a worker keeps for each remediation it caches, these sets are about a quarter
(36 models, 12.8 KB in a remediation waiting on people). Canary never asks which fields a
model was given: its payloads leave out the fields at their defaults (``canary.converter``),
not the fields unset. So the models a remediation keeps share, per class, one set of all the
class's fields instead of a set each.

Sharing is safe because the shared set never changes: setting a field adds a name it already
holds, and anything that would add another name or take one away is refused. Models that
accept extra fields (an extra's name would be added) keep their own sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ForwardRef, Literal, NoReturn, TypeVar, get_args, get_origin

from pydantic import BaseModel


class AllFields(set[str]):
    """Every field name of one model class; adding a name it holds is all it allows."""

    def add(self, name: str) -> None:
        if name not in self:
            self._refuse(f"add {name!r}")

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for name in other:
                self.add(name)

    def _refuse(self, change: str) -> NoReturn:
        raise TypeError(f"a shared set of field names cannot change ({change})")

    def discard(self, name: object) -> NoReturn:
        self._refuse(f"discard {name!r}")

    def remove(self, name: object) -> NoReturn:
        self._refuse(f"remove {name!r}")

    def pop(self) -> NoReturn:
        self._refuse("pop")

    def clear(self) -> NoReturn:
        self._refuse("clear")

    # The in-place operators work on the set itself, not through the methods above.
    def __ior__(self, other: Any) -> AllFields:  # type: ignore[override, misc]
        self.update(other)
        return self

    def __iand__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse("intersect")

    def __isub__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse("subtract")

    def __ixor__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse("symmetric difference")

    def intersection_update(self, *others: Any) -> NoReturn:
        self._refuse("intersect")

    def difference_update(self, *others: Any) -> NoReturn:
        self._refuse("subtract")

    def symmetric_difference_update(self, other: Any) -> NoReturn:
        self._refuse("symmetric difference")


#: Per model class seen: its shared set (None for a class that accepts extra fields) and the
#: fields whose type can hold a model (directly, or in a list or tuple), the only ones walked.
_PLANS: dict[type[BaseModel], tuple[AllFields | None, tuple[str, ...]]] = {}


def shared_fields(cls: type[BaseModel]) -> AllFields | None:
    return _plan(cls)[0]


def walked_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    return _plan(cls)[1]


def _plan(cls: type[BaseModel]) -> tuple[AllFields | None, tuple[str, ...]]:
    plan = _PLANS.get(cls)
    if plan is None:
        extra = cls.model_config.get("extra") == "allow"
        walked = tuple(
            name for name, info in cls.model_fields.items() if _may_hold_models(info.annotation)
        )
        plan = _PLANS[cls] = (None if extra else AllFields(cls.model_fields), walked)
    return plan


def _may_hold_models(annotation: Any) -> bool:
    """Whether a field of this type can hold a model outside a dict (a type it cannot read,
    such as ``Any`` or a name not yet resolved, is taken to hold one)."""
    if annotation is Any or isinstance(annotation, str | ForwardRef | TypeVar):
        return True
    if isinstance(annotation, type) and get_origin(annotation) is None:
        return issubclass(annotation, BaseModel)
    origin = get_origin(annotation)
    if origin is Literal or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return False
    return any(_may_hold_models(argument) for argument in get_args(annotation))


def share_field_sets(*values: Any) -> None:
    """Give every model within ``values`` (through fields, lists and tuples) its class's
    shared set of field names.

    Only the fields whose type can hold a model are walked (a timeline's text, a list of
    times, are not): the walk runs before every wait, replays included. Dicts are not
    walked either: in Canary's models they hold JSON data (facts, a timeline entry's data),
    no models, and a model kept in one would keep its own set, nothing worse."""
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, BaseModel):
            shared, walked = _plan(type(value))
            if shared is not None and value.__pydantic_fields_set__ is not shared:
                object.__setattr__(value, "__pydantic_fields_set__", shared)
            fields = value.__dict__
            for name in walked:
                held = fields.get(name)
                if held is not None:
                    pending.append(held)
        elif isinstance(value, list | tuple):
            pending.extend(value)
