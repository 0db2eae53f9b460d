"""The services of one node, as handed to the REST, UDP and WebSocket adapters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aesel.services.directory import SceneDirectory
from aesel.services.ingest import Ingest
from aesel.services.objects import ObjectService
from aesel.services.properties import PropertyService
from aesel.services.scenes import SceneService


@dataclass
class Services:
    objects: ObjectService
    properties: PropertyService
    scenes: SceneService
    directory: SceneDirectory
    ingest: Ingest
    drops: Counter[str] = field(default_factory=Counter)
