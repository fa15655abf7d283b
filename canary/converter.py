"""How Canary's values travel through Temporal: Pydantic models (and everything Pydantic can
read and write) as JSON, the same ``json/plain`` payloads as temporalio's pydantic converter.

Two things differ. A model is written without its fields that hold their defaults
(``dumped``). And the ``TypeAdapter`` that reads a payload lives elsewhere: the SDK builds a new
payload converter for each workflow instance it runs and for each serialization context
(every activation of a workflow, every activity), and temporalio's pydantic converter keeps
its adapters in a cache of its own: a worker holding a thousand remediations held some four
thousand adapters (about 27 MB), and every activation built the ones it needed again. Here
the adapters are cached once per process, keyed by type, so a converter is cheap to build and
holds nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

#: Distinct types read from payloads, across the whole process (Canary has a few dozen).
MAX_CACHED_ADAPTERS = 1024


@functools.lru_cache(maxsize=MAX_CACHED_ADAPTERS)
def adapter(type_hint: Any) -> TypeAdapter[Any]:
    """The one ``TypeAdapter`` of a (hashable) type hint in this process."""
    return TypeAdapter(type_hint)


class PydanticJSONConverter(EncodingPayloadConverter):
    """``json/plain`` payloads written by ``pydantic_core.to_json`` and read by the process's
    shared adapters."""

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        return Payload(metadata={"encoding": b"json/plain"}, data=dumped(value))

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            hash(hint)
        except TypeError:
            return TypeAdapter(hint).validate_json(payload.data)  # unhashable: not cached
        return adapter(hint).validate_json(payload.data)


def dumped(value: Any) -> bytes:
    """A value's JSON; a model's without the fields that hold their default values.

    Reading it fills them in again, so nothing is lost, and a pinned diagnosis, a
    remediation's input and its state are a third smaller in every history, in every
    payload a worker decodes on replay, and in what a worker holds for each remediation it
    caches (Temporal keeps a task's commands, a local activity's result among them, until
    the next task). It makes a field's default part of what recorded payloads mean:
    ``tests/unit/test_payload_defaults.py`` pins every default, so a changed one is a
    decision (before the first release, re-record the histories; after it, add a field).
    """
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value, exclude_defaults=True)
    return to_json(value)


#: The encodings, in the order tried: Temporal's defaults with JSON through Pydantic. None of
#: them holds state, so every converter shares these instances.
ENCODING_CONVERTERS = tuple(
    PydanticJSONConverter() if isinstance(c, JSONPlainPayloadConverter) else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class CanaryPayloadConverter(CompositePayloadConverter):
    """Temporal's default encodings (null, bytes, protobuf) with JSON through Pydantic.

    The SDK builds one for every copy of the data converter it makes, several for each
    workflow activation and activity: building one only gathers the shared encodings."""

    def __init__(self) -> None:
        super().__init__(*ENCODING_CONVERTERS)


#: Every Canary client's converter (the worker's, the gateway's, the CLI's, the tests').
canary_data_converter = DataConverter(payload_converter_class=CanaryPayloadConverter)
