"""Loading and validating the SOP catalog (YAML files → one validated :class:`Catalog`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from canary.models.sop import Catalog

DEFAULT_CATALOG = Path(__file__).parent / "sops" / "default.yaml"


class CatalogError(ValueError):
    """The catalog file is missing or invalid; the message says where and why."""


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read a catalog file (or every ``*.yaml`` in a folder, merged) and validate it."""
    target = Path(path) if path else DEFAULT_CATALOG
    files = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
    if not files or not all(f.exists() for f in files):
        raise CatalogError(f"SOP catalog not found at {target}")
    version_parts: list[str] = []
    sops: list[dict] = []
    dunning: dict = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CatalogError(f"{file}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogError(f"{file}: expected a mapping with 'version' and 'sops'")
        version_parts.append(str(data.get("version", file.stem)))
        sops.extend(data.get("sops") or [])
        if data.get("dunning") is not None:
            if dunning:
                raise CatalogError(f"{file}: another catalog file already has a 'dunning' section")
            dunning = data["dunning"]
    try:
        return Catalog(version="+".join(version_parts), sops=sops, dunning=dunning)
    except ValidationError as exc:
        raise CatalogError(f"{target}: invalid SOP catalog:\n{exc}") from exc


@lru_cache(maxsize=4)
def cached_catalog(path: str | None = None) -> Catalog:
    return load_catalog(path)
