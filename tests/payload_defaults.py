"""The default of every field of every model Canary's workflows and activities exchange.

Canary writes a model into a payload without its fields at their defaults (``canary.converter.
dumped``), so a default is part of what every recorded payload means: changing one changes
what old histories decode to. ``tests/payload_defaults.json`` pins them, and
``tests/unit/test_payload_defaults.py`` fails when one changes. After a deliberate change,
``python -m tests.payload_defaults`` writes the file again (and, before the first release,
``make histories`` re-records the histories).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_json
from pydantic_settings import BaseSettings

PINNED = Path(__file__).with_name("payload_defaults.json")
#: Where the models that travel through Temporal are defined.
PACKAGES = ("canary.", "activities.", "workflows.", "starter.")


def models() -> list[type[BaseModel]]:
    """Every model class of Canary's packages, once the worker and the gateway are imported."""
    import starter.gateway.app  # noqa: F401 - imported for the models it defines
    import worker  # noqa: F401

    found: dict[str, type[BaseModel]] = {}
    todo = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        name = f"{model.__module__}.{model.__qualname__}"
        # Settings are read from the environment, never sent through Temporal.
        if (
            model.__module__.startswith(PACKAGES)
            and "[" not in name
            and not issubclass(model, BaseSettings)
        ):
            found[name] = model
    return [found[name] for name in sorted(found)]


def default_text(field: FieldInfo) -> str:
    """A field's default as JSON; one its factory makes differently each time (the moment a
    report was made, when it names none) is never left out of a payload, and pinned so."""
    made, again = (field.get_default(call_default_factory=True) for _ in range(2))
    if made != again:
        return "<made anew each time>"
    return to_json(made, serialize_unknown=True).decode()


def defaults() -> dict[str, dict[str, str]]:
    """Model → field → its default as JSON (a factory's default as the factory makes it)."""
    found: dict[str, dict[str, str]] = {}
    for model in models():
        fields = {
            name: default_text(field)
            for name, field in model.model_fields.items()
            if field.default is not PydanticUndefined or field.default_factory is not None
        }
        if fields:
            found[f"{model.__module__}.{model.__qualname__}"] = fields
    return found


def changes(pinned: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> list[str]:
    """The defaults that differ from the pinned ones; a field or model that is new, or gone,
    is not a change of meaning and is not listed."""
    return [
        f"{model}.{field}: {pinned[model][field]} → {value}"
        for model, fields in now.items()
        for field, value in fields.items()
        if field in pinned.get(model, {}) and pinned[model][field] != value
    ]


def write() -> None:
    PINNED.write_text(json.dumps(defaults(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write()
    print(f"wrote {PINNED}")
