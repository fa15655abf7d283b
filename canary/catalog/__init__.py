"""The SOP catalog: default SOPs as data, the loader/validator, and pure diagnosis."""

from canary.catalog.diagnosis import (
    build_context,
    diagnose,
    evaluate,
    normalise_message,
    plan,
    render,
    unknown_signature,
)
from canary.catalog.loader import DEFAULT_CATALOG, CatalogError, cached_catalog, load_catalog

__all__ = [
    "DEFAULT_CATALOG",
    "CatalogError",
    "build_context",
    "cached_catalog",
    "diagnose",
    "evaluate",
    "load_catalog",
    "normalise_message",
    "plan",
    "render",
    "unknown_signature",
]
