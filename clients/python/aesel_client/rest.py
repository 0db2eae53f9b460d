"""The aesel HTTP API, asyncio-first, on httpx.

Bodies and answers are the Aesel JSON; the typed dicts below name their common fields (the
server may send more). Every 4xx/5xx raises an ``AeselError`` subclass carrying the server's
``err_code`` and ``err_msg``. After ``login`` the token is sent with every request; when it
expires (401) the client logs in again once with the same credentials and retries.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypedDict, cast

import httpx

from aesel_client.cluster import Node, parse_cluster
from aesel_client.crypto import CbcCipher, DatagramCipher, GcmChannel, KeyEncoding
from aesel_client.errors import BY_STATUS, AeselError
from aesel_client.udp import UdpDevice


class Device(TypedDict, total=False):
    key: str
    hostname: str
    port: int
    format: str
    encryption: str
    transform: dict[str, list[float]]


class Scene(TypedDict, total=False):
    key: str
    name: str
    description: str
    region: str
    active: bool
    public: bool
    latitude: float
    longitude: float
    assets: list[str]
    tags: list[str]
    devices: list[Device]


class SceneObject(TypedDict, total=False):
    key: str
    name: str
    scene: str
    type: str
    subtype: str
    owner: str
    parent: str
    transform: list[float]
    assets: list[str]


class Property(TypedDict, total=False):
    key: str
    name: str
    scene: str
    parent: str
    values: list[float]


Upload = bytes | str | os.PathLike[str] | IO[bytes] | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class Registration:
    """What ``register_udp`` did: the scene as answered, the whole answer, the cipher it set."""

    scene: Scene
    answer: dict[str, Any]
    cipher: DatagramCipher | None


class AsyncClient:
    """One aesel node's HTTP API.

    ::

        async with AsyncClient("http://127.0.0.1:8080") as api:
            scene = await api.create_scene("demo")
            cube = await api.create_object(scene["key"], "cube", transform=[...16 numbers])
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._credentials: tuple[str, str] | None = None
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Send one JSON request; returns the decoded answer (or the text when not JSON)."""
        r = await self._http.request(
            method, path, json=json, params=params, headers=self._headers()
        )
        if r.status_code == 401 and self._credentials is not None:
            await self.login(*self._credentials)
            r = await self._http.request(
                method, path, json=json, params=params, headers=self._headers()
            )
        _raise_for(r)
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.text

    # -- cluster -----------------------------------------------------------------------------

    async def cluster(self) -> list[Node]:
        """The nodes of the cluster (``GET /v1/cluster``), this node first; one when alone."""
        return parse_cluster(await self.request("GET", "/v1/cluster"))

    # -- users -------------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> str:
        """Log in; the token is kept and sent from now on (and renewed when it expires)."""
        r = await self._http.post("/login", json={"username": username, "password": password})
        _raise_for(r)
        self.token = r.headers["authorization"].removeprefix("Bearer ")
        self._credentials = (username, password)
        return self.token

    async def sign_up(self, username: str, password: str, email: str) -> dict[str, Any]:
        body = {"username": username, "password": password, "email": email}
        return cast(dict[str, Any], await self.request("POST", "/users/sign-up", json=body))

    # -- scenes ------------------------------------------------------------------------------

    async def create_scene(self, name: str, *, key: str | None = None, **fields: Any) -> Scene:
        """Create a scene (with ``key``: at that key, ``PUT /v1/scene/{key}``)."""
        body = {"scenes": [{"name": name, **fields}]}
        if key is None:
            doc = await self.request("POST", "/v1/scene", json=body)
        else:
            doc = await self.request("PUT", f"/v1/scene/{key}", json=body)
        return cast(Scene, doc["scenes"][0])

    async def get_scene(self, key: str) -> Scene:
        return cast(Scene, (await self.request("GET", f"/v1/scene/{key}"))["scenes"][0])

    async def update_scene(self, key: str, **fields: Any) -> Scene:
        doc = await self.request("POST", f"/v1/scene/{key}", json={"scenes": [fields]})
        return cast(Scene, doc["scenes"][0])

    async def delete_scene(self, key: str) -> None:
        await self.request("DELETE", f"/v1/scene/{key}")

    async def query_scenes(self, *, num_records: int = 100, **filters: Any) -> list[Scene]:
        """Scenes matching ``filters`` (name, region, tags, latitude, longitude, distance)."""
        body = {"num_records": num_records, "scenes": [filters]}
        return cast(
            list[Scene], (await self.request("POST", "/v1/scene/query", json=body))["scenes"]
        )

    async def register(
        self,
        scene: str,
        device: str,
        hostname: str,
        port: int,
        *,
        format: str | None = None,
        transform: Mapping[str, Sequence[float]] | None = None,
        encryption: str | None = None,
    ) -> Scene:
        """Register a UDP device to a scene; it receives the scene's events from now on.

        ``encryption="gcm"`` asks for a per-device AES-256-GCM key (the answer's ``gcm_key``:
        use ``register_udp`` to have it set on a ``UdpDevice``).
        """
        doc = await self._register(scene, device, hostname, port, format, transform, encryption)
        return cast(Scene, doc["scenes"][0])

    async def register_udp(
        self,
        scene: str,
        device: str,
        udp: UdpDevice,
        *,
        hostname: str | None = None,
        format: str | None = None,
        transform: Mapping[str, Sequence[float]] | None = None,
        encryption: str | None = None,
        key_encoding: KeyEncoding = "hex",
    ) -> Registration:
        """Register ``udp``'s socket as ``device`` and set the cipher the node's answer calls for.

        ``encryption="gcm"``: the device's AES-256-GCM key (``GcmChannel``). Otherwise, when
        the node runs Aesel's AES-256-CBC (its answer carries ``encryption_key`` and the other
        key fields, hex unless ``key_encoding="raw"``), a ``CbcCipher``: the node encrypts
        everything it sends to a device without GCM. ``hostname`` defaults to the socket's
        local address.
        """
        host = hostname or str(udp.local[0])
        doc = await self._register(scene, device, host, udp.port, format, transform, encryption)
        cipher: DatagramCipher | None = None
        if encryption == "gcm":
            cipher = GcmChannel(str(doc["gcm_key"]), device)
        elif "encryption_key" in doc:
            cipher = CbcCipher.from_registration(doc, key_encoding)
        udp.cipher = cipher
        return Registration(cast(Scene, doc["scenes"][0]), doc, cipher)

    async def _register(
        self,
        scene: str,
        device: str,
        hostname: str,
        port: int,
        format: str | None,
        transform: Mapping[str, Sequence[float]] | None,
        encryption: str | None,
    ) -> dict[str, Any]:
        dev: dict[str, Any] = {"key": device, "hostname": hostname, "port": port}
        if format is not None:
            dev["format"] = format
        if transform is not None:
            dev["transform"] = {k: list(v) for k, v in transform.items()}
        if encryption is not None:
            dev["encryption"] = encryption
        body = {"scenes": [{"key": scene, "devices": [dev]}]}
        return cast(
            dict[str, Any], await self.request("POST", f"/v1/scene/{scene}/register", json=body)
        )

    async def deregister(self, scene: str, device: str) -> None:
        body = {"scenes": [{"key": scene, "devices": [{"key": device}]}]}
        await self.request("POST", f"/v1/scene/{scene}/deregister", json=body)

    # -- objects -----------------------------------------------------------------------------

    async def create_object(
        self, scene: str, name: str, *, transform: Sequence[float] | None = None, **fields: Any
    ) -> SceneObject:
        obj: dict[str, Any] = {"name": name, **fields}
        if transform is not None:
            obj["transform"] = [float(x) for x in transform]
        return (await self.create_objects(scene, [cast(SceneObject, obj)]))[0]

    async def create_objects(self, scene: str, objects: Sequence[SceneObject]) -> list[SceneObject]:
        doc = await self.request("POST", f"/v1/scene/{scene}/object", json={"objects": objects})
        return cast(list[SceneObject], doc["objects"])

    async def get_object(self, scene: str, key: str) -> SceneObject:
        doc = await self.request("GET", f"/v1/scene/{scene}/object/{key}")
        return cast(SceneObject, doc["objects"][0])

    async def update_object(self, scene: str, key: str, **fields: Any) -> SceneObject:
        doc = await self.request(
            "POST", f"/v1/scene/{scene}/object/{key}", json={"objects": [fields]}
        )
        return cast(SceneObject, doc["objects"][0])

    async def delete_object(self, scene: str, key: str) -> None:
        await self.request("DELETE", f"/v1/scene/{scene}/object/{key}")

    async def query_objects(
        self, scene: str, *, num_records: int = 100, **filters: Any
    ) -> list[SceneObject]:
        body = {"num_records": num_records, "objects": [filters]}
        doc = await self.request("POST", f"/v1/scene/{scene}/object/query", json=body)
        return cast(list[SceneObject], doc["objects"])

    # -- properties --------------------------------------------------------------------------

    async def create_property(
        self, scene: str, name: str, values: Sequence[float] = (), **fields: Any
    ) -> Property:
        body = {"properties": [{"name": name, "values": list(values), **fields}]}
        doc = await self.request("POST", f"/v1/scene/{scene}/property", json=body)
        return cast(Property, doc["properties"][0])

    async def get_property(self, scene: str, key: str) -> Property:
        doc = await self.request("GET", f"/v1/scene/{scene}/property/{key}")
        return cast(Property, doc["properties"][0])

    async def update_property(self, scene: str, key: str, **fields: Any) -> Property:
        body = {"properties": [fields]}
        doc = await self.request("POST", f"/v1/scene/{scene}/property/{key}", json=body)
        return cast(Property, doc["properties"][0])

    async def delete_property(self, scene: str, key: str) -> None:
        await self.request("DELETE", f"/v1/scene/{scene}/property/{key}")

    async def query_properties(
        self, scene: str, *, num_records: int = 100, **filters: Any
    ) -> list[Property]:
        body = {"num_records": num_records, "properties": [filters]}
        doc = await self.request("POST", f"/v1/scene/{scene}/property/query", json=body)
        return cast(list[Property], doc["properties"])

    # -- assets ------------------------------------------------------------------------------

    async def upload_asset(
        self,
        source: Upload,
        *,
        name: str = "",
        content_type: str = "application/octet-stream",
        file_type: str = "",
        asset_type: str = "standard",
        public: bool = True,
        filename: str = "asset",
    ) -> str:
        """Upload an asset, streamed from a path, a file, an async iterator or bytes.

        Returns the new asset id.
        """
        params = {"content-type": content_type, "file-type": file_type, "asset-type": asset_type,
                  "name": name, "isPublic": str(public).lower()}  # fmt: skip
        if isinstance(source, str | os.PathLike):
            # httpx reads the file in chunks as it sends: the file is never held in memory
            with Path(source).open("rb") as f:  # noqa: ASYNC230
                return await self._upload(params, f, filename)
        return await self._upload(params, source, filename)

    async def _upload(self, params: dict[str, str], body: Any, filename: str) -> str:
        if isinstance(body, AsyncIterable):
            content = _multipart(body, filename)
            headers = {
                **self._headers(),
                "content-type": f"multipart/form-data; boundary={_BOUNDARY}",
            }
            r = await self._http.post("/v1/asset", params=params, content=content, headers=headers)
        else:
            files = {"file": (filename, body, "application/octet-stream")}
            r = await self._http.post(
                "/v1/asset", params=params, files=files, headers=self._headers()
            )
        _raise_for(r)
        return r.text.strip()

    async def download_asset(self, asset_id: str, dest: str | os.PathLike[str]) -> int:
        """Stream an asset to a file; returns the number of bytes written."""
        n = 0
        with Path(dest).open("wb") as f:  # noqa: ASYNC230 (chunk writes to a local file)
            async for chunk in self.iter_asset(asset_id):
                f.write(chunk)
                n += len(chunk)
        return n

    async def iter_asset(self, asset_id: str) -> AsyncIterator[bytes]:
        """An asset's bytes as they arrive (NotFound when unknown or private)."""
        async with self._http.stream("GET", f"/v1/asset/{asset_id}", headers=self._headers()) as r:
            if r.status_code != 200:
                await r.aread()
                _raise_for(r, asset_id)
            async for chunk in r.aiter_bytes():
                yield chunk

    async def delete_asset(self, asset_id: str) -> None:
        await self.request("DELETE", f"/v1/asset/{asset_id}")


_BOUNDARY = "aesel-client-0b5f9d0c6a"


async def _multipart(chunks: AsyncIterable[bytes], filename: str) -> AsyncIterator[bytes]:
    yield (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    async for chunk in chunks:
        yield chunk
    yield f"\r\n--{_BOUNDARY}--\r\n".encode()


def _raise_for(r: httpx.Response, what: str = "") -> None:
    if r.status_code < 300 and not (r.status_code == 204 and what):
        return
    err_code, err_msg = 101, r.reason_phrase or f"status {r.status_code}"
    try:
        doc = r.json()
        err_code, err_msg = int(doc["err_code"]), str(doc["err_msg"])
    except (ValueError, KeyError, TypeError):
        if r.status_code == 204:
            err_msg = f"no asset {what!r} (unknown or private)"
    raise BY_STATUS.get(r.status_code, AeselError)(err_msg, err_code, r.status_code)
