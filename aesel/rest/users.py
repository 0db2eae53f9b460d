"""Users and login (Adrestia; docs/compat.md §1.9): ``/users/...`` and ``POST /login``.

Who may call what, with ``--auth``, is decided once, in :mod:`aesel.rest.auth`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from aesel.errors import TooManyRequests
from aesel.model.catalog import LoginIn, UserIn
from aesel.rest.deps import Cat
from aesel.rest.responses import JSON, error
from aesel.services.assets import check_paging
from aesel.services.users import TOKEN_LIFETIME

router = APIRouter(tags=["users"])


@router.post(
    "/login",
    summary="Log in: the JWT comes back in the Authorization header and an access_token cookie; "
    "429 with Retry-After after repeated failures",
)
async def login(body: LoginIn, cat: Cat, request: Request) -> Response:
    address = request.client.host if request.client is not None else ""
    try:
        token = await cat.users.login(body.username, body.password, address)
    except TooManyRequests as e:
        refused = error(e.status, int(e.err_code), e.message)
        refused.headers["Retry-After"] = str(e.retry_after)
        return refused
    response = JSON({"access_token": token, "token_type": "Bearer"})
    response.headers["Authorization"] = f"Bearer {token}"
    response.set_cookie(
        "access_token", token, max_age=TOKEN_LIFETIME, httponly=True, samesite="lax"
    )
    return response


@router.post("/users/sign-up", summary="Create a user (admin only with --auth); 409 if taken")
async def sign_up(body: UserIn, cat: Cat) -> JSON:
    return JSON((await cat.users.sign_up(body)).to_json())


@router.get("/users", summary="Find users by username or email; 404 if none")
async def query_users(
    cat: Cat,
    username: str | None = None,
    email: str | None = None,
    num_records: int = 10,
    page: int = 0,
) -> JSON:
    offset, limit = check_paging(num_records, page)
    return JSON([u.to_json() for u in await cat.users.query(username, email, offset, limit)])


router.add_api_route("/users/", query_users, methods=["GET"], include_in_schema=False)


@router.get("/users/{id}", summary="Get a user by id (or username); 404 if unknown")
async def get_user(id: str, cat: Cat) -> JSON:
    return JSON((await cat.users.get(id)).to_json())


@router.put(
    "/users/{id}",
    summary="Change username, password or email; 416 if nothing changed",
    response_class=PlainTextResponse,
)
async def update_user(id: str, body: UserIn, cat: Cat) -> PlainTextResponse:
    await cat.users.update(id, body)
    return PlainTextResponse("")


@router.delete("/users/{id}", summary="Delete a user", response_class=PlainTextResponse)
async def delete_user(id: str, cat: Cat) -> PlainTextResponse:
    await cat.users.delete(id)
    return PlainTextResponse("")


def _flag_routes(path: str, flag: str, what: str) -> None:
    async def grant(id: str, cat: Cat) -> JSON:
        return JSON((await cat.users.set_flag(id, flag, True)).to_json())

    async def revoke(id: str, cat: Cat) -> JSON:
        return JSON((await cat.users.set_flag(id, flag, False)).to_json())

    for fn, method, verb in ((grant, "PUT", "Set"), (revoke, "DELETE", "Clear")):
        router.add_api_route(
            f"/users/{{id}}/{path}",
            fn,
            methods=[method],
            summary=f"{verb} {what} (admin only with --auth); 416 if unchanged",
            name=f"{verb.lower()}_{path}",
        )


def _favorite_routes(path: str, field: str, what: str) -> None:
    async def add(id: str, item: str, cat: Cat) -> JSON:
        return JSON((await cat.users.favorite(id, field, item, True)).to_json())

    async def remove(id: str, item: str, cat: Cat) -> JSON:
        return JSON((await cat.users.favorite(id, field, item, False)).to_json())

    for fn, method, verb in ((add, "PUT", "Add"), (remove, "DELETE", "Remove")):
        router.add_api_route(
            f"/users/{{id}}/{path}/{{item}}",
            fn,
            methods=[method],
            summary=f"{verb} a favourite {what}; 416 if unchanged",
            name=f"{verb.lower()}_favorite_{path}",
        )


_flag_routes("admin", "admin", "the admin flag")
_flag_routes("active", "active", "the active flag")
_favorite_routes("projects", "favorite_projects", "project")
_favorite_routes("scenes", "favorite_scenes", "scene")
