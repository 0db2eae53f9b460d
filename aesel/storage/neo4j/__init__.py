"""The Neo4j backend: scenes, devices, registrations and scene links, as a graph.

Shared by every aesel node of a deployment; uses the official ``neo4j`` async driver. Tested
against Neo4j Community 5.26 LTS, started by ``scripts/engines.sh``.
"""

from aesel.storage.neo4j.scenes import Neo4jSceneStore

__all__ = ["Neo4jSceneStore"]
