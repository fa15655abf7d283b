"""How Canary's values travel through Temporal: Pydantic models (and everything Pydantic can
read and write) as JSON, the same ``json/plain`` payloads as temporalio's pydantic converter.

The difference is where the ``TypeAdapter`` that reads a payload lives. The SDK builds a new
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

from pydantic import TypeAdapter
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
        return Payload(metadata={"encoding": b"json/plain"}, data=to_json(value))

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            hash(hint)
        except TypeError:
            return TypeAdapter(hint).validate_json(payload.data)  # unhashable: not cached
        return adapter(hint).validate_json(payload.data)


class CanaryPayloadConverter(CompositePayloadConverter):
    """Temporal's default encodings (null, bytes, protobuf) with JSON through Pydantic."""

    def __init__(self) -> None:
        super().__init__(
            *(
                PydanticJSONConverter() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


#: Every Canary client's converter (the worker's, the gateway's, the CLI's, the tests').
canary_data_converter = DataConverter(payload_converter_class=CanaryPayloadConverter)
