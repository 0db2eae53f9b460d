"""The MongoDB backend: objects, properties and the catalog (asset bytes in GridFS).

Shared by every aesel node of a deployment. Uses PyMongo's native asyncio API
(``AsyncMongoClient``; Motor is deprecated in its favour). Tested against SecantusDB, a
MongoDB-wire server, started by ``scripts/engines.sh``.
"""

from aesel.storage.mongo.catalog import MongoBlobStore, MongoCatalogStore
from aesel.storage.mongo.objects import MongoObjectStore

__all__ = ["MongoBlobStore", "MongoCatalogStore", "MongoObjectStore"]
