"""Loading and validating the SOP catalog (YAML files → one validated :class:`Catalog`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from canary.models.sop import Catalog

DEFAULT_CATALOG = Path(__file__).parent / "sops" / "default.yaml"

#: The catalog's sections besides its SOPs. The SOPs of every file are merged; each of these
#: is given whole by one file of the catalog (or left to its defaults).
SECTIONS = ("dunning", "recovery", "forms")


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
    sections: dict[str, tuple[Path, Any]] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CatalogError(f"{file}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogError(f"{file}: expected a mapping with 'version' and 'sops'")
        unknown = sorted(str(key) for key in data if key not in ("version", "sops", *SECTIONS))
        if unknown:
            raise CatalogError(
                f"{file}: unknown top-level key {', '.join(map(repr, unknown))}; a catalog "
                f"file has version, sops, {', '.join(SECTIONS)}"
            )
        version_parts.append(str(data.get("version", file.stem)))
        sops.extend(data.get("sops") or [])
        for name in SECTIONS:
            if data.get(name) is None:
                continue
            if name in sections:
                raise CatalogError(
                    f"{file}: {sections[name][0].name} already gives the catalog's {name!r} "
                    "section; one file gives it whole"
                )
            sections[name] = (file, data[name])
    given = {name: value for name, (_, value) in sections.items()}
    try:
        return Catalog(version="+".join(version_parts), sops=sops, **given)
    except ValidationError as exc:
        raise CatalogError(f"{target}: invalid SOP catalog:\n{exc}") from exc


@lru_cache(maxsize=4)
def cached_catalog(path: str | None = None) -> Catalog:
    return load_catalog(path)
