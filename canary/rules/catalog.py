"""Loading and validating the detector catalog (YAML → :class:`DetectorCatalog`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from canary.catalog.loader import CatalogError
from canary.models.detectors import DetectorCatalog
from canary.models.sop import Catalog

DEFAULT_DETECTORS = Path(__file__).parent.parent / "catalog" / "detectors" / "default.yaml"


def load_detectors(path: str | Path | None = None, sops: Catalog | None = None) -> DetectorCatalog:
    """Read a detector file (or every ``*.yaml`` in a folder, merged) and validate it; with
    ``sops``, also check that every detector raises a type the SOP catalog knows."""
    target = Path(path) if path else DEFAULT_DETECTORS
    files = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
    if not files or not all(f.exists() for f in files):
        raise CatalogError(f"detector catalog not found at {target}")
    versions: list[str] = []
    detectors: list[dict] = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CatalogError(f"{file}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogError(f"{file}: expected a mapping with 'version' and 'detectors'")
        versions.append(str(data.get("version", file.stem)))
        detectors.extend(data.get("detectors") or [])
    try:
        catalog = DetectorCatalog(version="+".join(versions), detectors=detectors)
    except ValidationError as exc:
        raise CatalogError(f"{target}: invalid detector catalog:\n{exc}") from exc
    if sops is not None:
        unknown = sorted(
            {
                t
                for d in catalog.detectors
                for t in (d.error_type, getattr(d, "customer_error_type", None))
                if t and sops.get(t) is None
            }
        )
        if unknown:
            raise CatalogError(f"{target}: detectors raise types the SOP catalog lacks: {unknown}")
    return catalog


@lru_cache(maxsize=4)
def cached_detectors(path: str | None = None) -> DetectorCatalog:
    return load_detectors(path)
