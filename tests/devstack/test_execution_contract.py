"""The local stack delivers executions as Appwrite 1.8.1, its executor and the Python runtime do (docs/platform.md).

Each test names the upstream behaviour it reproduces:
- Appwrite `Functions/Validator/Headers.php`: the caller's header names are checked, `x-appwrite-` case-sensitively.
- Appwrite `Executions/Create.php`: its own lower-case headers are added after the caller's; curl drops empty ones.
- open-runtimes/executor `Runner/Docker.php`: `Authorization: Basic base64("opr:<secret>")` on every execution.
- The Python runtime: lower-case names, the first value of a repeated name, yarl-decoded path and query.
- Appwrite: a synchronous execution answers 408 after 30 s while the function runs on; accounts, sessions and JWTs
  (`devstack.accounts`).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from appwrite.services.functions import Functions

from devstack import functions as runtime_module
from devstack.server import Stack

PROBE = '''
import threading

RELEASE = threading.Event()


def main(context):
    req = context.req
    if req.path == "/wait":
        RELEASE.wait(5)
        return context.res.empty()
    return context.res.json({"headers": req.headers, "path": req.path, "queryString": req.query_string,
                             "query": req.query})
'''

CONFIG = {
    "projectId": "contract-project",
    "tablesDB": [], "tables": [],
    "functions": [
        {"$id": fid, "name": fid, "runtime": "python-3.12", "execute": execute, "events": [], "scopes": [],
         "schedule": "", "timeout": timeout, "enabled": True, "entrypoint": "functions/probe/src/main.py",
         "path": "."}
        for fid, execute, timeout in (("probe", ["any"], 15), ("agents", ["label:agent"], 15),
                                      ("slow", ["any"], 900))
    ],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("contract")
    (root / "appwrite.json").write_text(json.dumps(CONFIG))
    src = root / "functions" / "probe" / "src"
    src.mkdir(parents=True)
    (src / "main.py").write_text(PROBE)
    with Stack(root, data_dir=root / "data", port=0, run_scheduler=False) as running:
        yield running


def _client(stack: Stack, **auth: str) -> Client:
    client = Client().set_endpoint(stack.endpoint).set_project(stack.project_id)
    if auth.get("key"):
        client.set_key(auth["key"])
    if auth.get("jwt"):
        client.set_jwt(auth["jwt"])
    if auth.get("session"):
        client.set_session(auth["session"])
    return client


def _run(stack: Stack, headers: dict | None = None, path: str = "/", client: Client | None = None) -> dict:
    execution = Functions(client or _client(stack)).create_execution("probe", path=path, headers=headers or {})
    assert execution.responsestatuscode == 200, execution.responsebody
    return json.loads(execution.responsebody)


def _post(stack: Stack, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"{stack.endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              "x-appwrite-project": stack.project_id, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def _sign_in(stack: Stack, user: str = "agent-alice") -> str:
    """The session secret of an email/password sign-in, from the X-Fallback-Cookies answer header."""
    status, headers, _ = _post(stack, "/account/sessions/email",
                               {"email": f"{user}@example.test", "password": stack.dev_password})
    assert status == 201
    fallback = {k.lower(): v for k, v in headers.items()}["x-fallback-cookies"]
    return json.loads(fallback)[f"a_session_{stack.project_id}"]


def _jwt(stack: Stack, session_secret: str) -> str:
    """POST /account/jwts with the session (the server SDK has no create_jwt; web pages call it)."""
    status, _, body = _post(stack, "/account/jwts", {}, {"x-appwrite-session": session_secret})
    assert status == 201
    return body["jwt"]


# --- Functions/Validator/Headers.php ------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"x-appwrite-user-id": "admin-ada"}, {"x-appwrite-trigger": "event"},  # the lower-case spelling only
    {"bad_name": "1"}, {"-leading": "1"}, {"trailing-": "1"}, {"sp ace": "1"},
    {f"h{i}": "1" for i in range(101)}, {"big": "x" * 16384},
])
def test_create_execution_refuses_the_headers_appwrite_refuses(stack: Stack, headers: dict) -> None:
    with pytest.raises(AppwriteException) as refused:
        Functions(_client(stack)).create_execution("probe", headers=headers)
    assert refused.value.code == 400 and "Invalid headers" in refused.value.message


def test_mixed_case_appwrite_headers_pass_and_their_value_arrives_first(stack: Stack) -> None:
    seen = _run(stack, {"X-Appwrite-User-Id": "admin-ada", "X-Appwrite-Trigger": "schedule",
                        "X-APPWRITE-EVENT": "forged", "X-Appwrite-Key": "forged-key"})["headers"]
    assert seen["x-appwrite-user-id"] == "admin-ada"  # an anonymous caller: Appwrite's own would be absent
    assert seen["x-appwrite-trigger"] == "schedule" and seen["x-appwrite-event"] == "forged"
    assert seen["x-appwrite-key"] == "forged-key"


# --- Executions/Create.php and curl ---------------------------------------------------------------------

def test_appwrite_adds_its_own_headers_and_empty_ones_are_not_sent(stack: Stack) -> None:
    seen = _run(stack)["headers"]
    assert seen["x-appwrite-trigger"] == "http" and seen["x-appwrite-key"]
    assert seen["x-appwrite-continent-eu"] == "false"
    for empty in ("x-appwrite-user-id", "x-appwrite-user-jwt", "x-appwrite-event", "x-appwrite-country-code"):
        assert empty not in seen, empty


def test_a_session_caller_gets_a_user_jwt_and_a_jwt_caller_does_not(stack: Stack) -> None:
    secret = _sign_in(stack)
    with_session = _run(stack, client=_client(stack, session=secret))["headers"]
    assert with_session["x-appwrite-user-id"] == "agent-alice"
    user = Account(_client(stack, jwt=with_session["x-appwrite-user-jwt"])).get()
    assert (user.id, user.labels) == ("agent-alice", ["agent"])
    jwt = _jwt(stack, secret)
    with_jwt = _run(stack, client=_client(stack, jwt=jwt))["headers"]
    assert with_jwt["x-appwrite-user-id"] == "agent-alice" and "x-appwrite-user-jwt" not in with_jwt


# --- the executor ---------------------------------------------------------------------------------------

def test_every_execution_carries_the_executors_basic_authorization(stack: Stack) -> None:
    seen = _run(stack)["headers"]
    scheme, _, credentials = seen["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials).decode().startswith("opr:")
    assert not any(name.startswith("x-open-runtimes-") for name in seen)
    # The executor overwrites a caller's `Authorization`, spelled exactly so; another spelling arrives first.
    assert _run(stack, {"Authorization": "Bearer mine"})["headers"]["authorization"].startswith("Basic ")
    assert _run(stack, {"authorization": "Bearer mine"})["headers"]["authorization"] == "Bearer mine"


# --- the Python runtime ---------------------------------------------------------------------------------

def test_header_names_arrive_lower_case(stack: Stack) -> None:
    seen = _run(stack, {"X-Custom-Thing": "1", "Content-Type": "application/json"})["headers"]
    assert seen["x-custom-thing"] == "1" and seen["content-type"] == "application/json"
    assert all(name == name.lower() for name in seen)


def test_path_is_percent_decoded_and_the_query_decoded_as_yarl_does(stack: Stack) -> None:
    seen = _run(stack, path="/a%20b/c%2Fd?x=%3A%20+%25%2B%26%3D%C3%A9&y=1")
    assert seen["path"] == "/a b/c/d"
    assert seen["queryString"] == "x=:  %%2B%26%3Dé&y=1"  # %2B %26 %3D kept, the rest decoded
    assert seen["query"] == {"x": ":  %%2B%26%3Dé", "y": "1"}  # a naive split, not decoded again


def test_a_synchronous_execution_answers_408_after_30_s_and_the_function_runs_on(stack: Stack, monkeypatch) -> None:
    """appwrite 1.9.6 `src/Appwrite/Platform/Modules/Functions/Http/Executions/Create.php`: the executor is called with
    `requestTimeout: 30` and the function's own `timeout`; past 30 s the caller gets 408
    `function_synchronous_timeout` (`app/config/errors.php`), the execution is stored failed (500, errors = message +
    a literal `\\nError Code: 408`), and the function runs on up to its own timeout with a key still valid."""
    monkeypatch.setattr(runtime_module, "HTTP_TIMEOUT", 0.2)  # stands for Appwrite's 30 s
    module = stack.runtime._module(stack.runtime.functions["slow"])  # timeout 900
    module.RELEASE.clear()
    keys_before = set(stack.keys._keys)
    finish, finished = stack.runtime._finish, threading.Event()

    def finishing(*args) -> None:
        finish(*args)
        finished.set()
    monkeypatch.setattr(stack.runtime, "_finish", finishing)
    try:
        with pytest.raises(AppwriteException) as cut:
            Functions(_client(stack)).create_execution("slow", path="/wait")
        assert (cut.value.code, cut.value.type) == (408, "function_synchronous_timeout")
        running_keys = set(stack.keys._keys) - keys_before
        assert len(running_keys) == 1  # the function still runs, and its key still works
        assert not finished.is_set()
    finally:
        module.RELEASE.set()
    assert finished.wait(5)
    assert not set(stack.keys._keys) & running_keys  # revoked when the function ended, not at the 408
    admin = Functions(_client(stack, key=stack.api_key))
    stored = [e for e in admin.list_executions("slow").executions if e.requestpath == "/wait"][0]
    assert (stored.status.value, stored.responsestatuscode) == ("failed", 500)  # what it answered later is dropped
    assert stored.errors.endswith("seconds.\\nError Code: 408")


# --- accounts -------------------------------------------------------------------------------------------

def test_dev_users_sign_in_and_their_jwt_proves_who_they_are(stack: Stack) -> None:
    secret = _sign_in(stack, "admin-ada")
    jwt = _jwt(stack, secret)
    user = Account(_client(stack, jwt=jwt)).get()
    assert (user.id, user.labels, user.email) == ("admin-ada", ["admin"], "admin-ada@example.test")


def test_a_wrong_password_a_forged_jwt_and_a_closed_session_are_refused(stack: Stack) -> None:
    status, _, body = _post(stack, "/account/sessions/email",
                            {"email": "agent-alice@example.test", "password": "guess-guess"})
    assert (status, body["type"]) == (401, "user_invalid_credentials")
    secret = _sign_in(stack)
    jwt = _jwt(stack, secret)
    head, body_part, _ = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body_part + "=="))
    forged_body = base64.urlsafe_b64encode(json.dumps({**claims, "userId": "admin-ada"}).encode()).decode()
    for forged in (f"{head}.{forged_body.rstrip('=')}.{jwt.split('.')[2]}", "not-a-jwt", jwt + "x"):
        with pytest.raises(AppwriteException) as refused:
            Account(_client(stack, jwt=forged)).get()
        assert (refused.value.code, refused.value.type) == (401, "user_jwt_invalid")
    Account(_client(stack, session=secret)).delete_session("current")
    with pytest.raises(AppwriteException) as revoked:
        Account(_client(stack, jwt=jwt)).get()
    assert revoked.value.code == 401


def test_anonymous_sessions_are_limited_to_50_an_hour_per_ip_and_prove_a_user(stack: Stack, monkeypatch) -> None:
    """Appwrite 1.8.1 `POST /v1/account/sessions/anonymous`: abuse-limit 50, abuse-key `ip:{ip}`, a one-hour
    fixed window (app/controllers/api/account.php, app/controllers/shared/api.php, utopia-php/abuse TimeLimit)."""
    class Clock:
        now = 1_800_000_000.0 + 600  # ten minutes into an hour window

        def time(self) -> float:
            return self.now
    clock = Clock()
    monkeypatch.setattr("devstack.accounts.time", clock)
    window_end = str(1_800_000_000 + 3600)
    remaining, users = [], set()
    for _ in range(50):
        status, headers, session = _post(stack, "/account/sessions/anonymous", {})
        headers = {k.lower(): v for k, v in headers.items()}
        assert (status, session["provider"], headers["x-ratelimit-limit"]) == (201, "anonymous", "50")
        assert headers["x-ratelimit-reset"] == window_end
        remaining.append(int(headers["x-ratelimit-remaining"]))
        users.add(session["userId"])
    assert remaining == list(range(49, -1, -1)) and len(users) == 50  # a new user each time
    status, headers, body = _post(stack, "/account/sessions/anonymous", {})
    assert (status, body["type"]) == (429, "general_rate_limit_exceeded")
    assert {k.lower(): v for k, v in headers.items()}["x-ratelimit-remaining"] == "0"
    clock.now += 3600  # the next window
    status, headers, session = _post(stack, "/account/sessions/anonymous", {})
    assert status == 201
    # The session is a user like any other: its executions carry a user JWT that proves who it is.
    secret = json.loads({k.lower(): v for k, v in headers.items()}["x-fallback-cookies"])[
        f"a_session_{stack.project_id}"]
    seen = _run(stack, client=_client(stack, session=secret))["headers"]
    assert seen["x-appwrite-user-id"] == session["userId"]
    user = Account(_client(stack, jwt=seen["x-appwrite-user-jwt"])).get()
    assert (user.id, user.labels) == (session["userId"], [])


def test_execute_permissions_follow_the_proven_user(stack: Stack) -> None:
    with pytest.raises(AppwriteException) as guest:
        Functions(_client(stack)).create_execution("agents", headers={"X-Appwrite-User-Id": "agent-alice"})
    assert guest.value.code == 401
    jwt = _jwt(stack, _sign_in(stack))
    assert Functions(_client(stack, jwt=jwt)).create_execution("agents").responsestatuscode == 200


def test_sessions_live_only_as_long_as_the_stack(tmp_path: Path) -> None:
    (tmp_path / "appwrite.json").write_text(json.dumps(CONFIG))
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False) as first:
        jwt = _jwt(first, _sign_in(first))
    with Stack(tmp_path, data_dir=tmp_path / "data", port=0, run_scheduler=False) as second, \
            pytest.raises(AppwriteException):
        Account(_client(second, jwt=jwt)).get()



def test_a_signed_out_session_cookie_is_a_guest_not_an_error(stack: Stack) -> None:
    secret = _sign_in(stack)
    Account(_client(stack, session=secret)).delete_session("current")
    seen = _run(stack, client=_client(stack, session=secret))["headers"]  # `any` still runs it, as a guest
    assert "x-appwrite-user-id" not in seen and "x-appwrite-user-jwt" not in seen
    status, _, body = _post(stack, "/account/jwts", {}, {"x-appwrite-session": secret})
    assert (status, body["type"]) == (401, "general_unauthorized_scope")


class _Clock:
    """Stands for `time` in devstack.accounts: the abuse windows without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_a_jwt_cannot_renew_itself_and_a_jwt_next_to_a_session_is_refused(stack: Stack) -> None:
    """appwrite 1.9.6 `app/controllers/api/account.php` `POST /v1/account/jwts`: the action signs for the session the
    request presents (`$user->sessionVerify($store->getProperty('secret', ''))`), and a request proven by a JWT alone
    has none: 404 `user_session_not_found`. `app/init/resources/request.php` (the `user` resource): a JWT next to a
    live session is 403 `user_jwt_and_cookie_set`, on every route."""
    secret = _sign_in(stack)
    jwt = _jwt(stack, secret)
    status, _, body = _post(stack, "/account/jwts", {}, {"x-appwrite-jwt": jwt})
    assert (status, body["type"]) == (404, "user_session_not_found")
    status, _, body = _post(stack, "/account/jwts", {}, {"x-appwrite-jwt": jwt, "x-appwrite-session": secret})
    assert (status, body["type"]) == (403, "user_jwt_and_cookie_set")
    with pytest.raises(AppwriteException) as both:
        Account(_client(stack, jwt=jwt, session=secret)).get()
    assert (both.value.code, both.value.type) == (403, "user_jwt_and_cookie_set")
    status, _, body = _post(stack, "/account/jwts", {})
    assert (status, body["type"]) == (401, "general_unauthorized_scope")


@pytest.mark.parametrize(("duration", "accepted"), [
    (0, True), (3600, True), ("900", True), (3601, False), (-1, False), (900.0, False), ("9e2", False),
    (True, False), ("abc", False)])
def test_jwt_duration_is_validated_as_utopias_range(stack: Stack, duration: object, accepted: bool) -> None:
    """appwrite 1.9.6 `app/controllers/api/account.php`: `duration` is `Range(0, 3600)` (utopia-php/validators 0.2.6
    `src/Validator/Range.php`: PHP `is_numeric`, then an int once `+ 0`; bounds printed with `number_format`)."""
    status, _, body = _post(stack, "/account/jwts", {"duration": duration},
                            {"x-appwrite-session": _sign_in(stack)})
    if accepted:
        assert status == 201
    else:
        assert (status, body["type"]) == (400, "general_argument_invalid")
        assert body["message"] == "Invalid `duration` param: Value must be a valid range between 0 and 3,600"


def test_jwts_are_limited_to_120_a_minute_per_user(stack: Stack, monkeypatch) -> None:
    """appwrite 1.9.6 `app/controllers/api/account.php` `POST /v1/account/jwts`: abuse-limit
    APP_LIMIT_WRITE_RATE_DEFAULT * 2 = 120, abuse-time APP_LIMIT_WRITE_RATE_PERIOD_DEFAULT = 60 s
    (`app/init/constants.php`), abuse-key `url:{url},userId:{userId}`: per user, whatever the IP; checked in the
    `api` init hook (`app/controllers/shared/api.php`) before the params, so a refused call counts too."""
    clock = _Clock(1_800_000_000.0 + 10)
    monkeypatch.setattr("devstack.accounts.time", clock)
    bob, ada = _sign_in(stack, "agent-bob"), _sign_in(stack, "admin-ada")
    for i in range(120):
        status, headers, _ = _post(stack, "/account/jwts", {"duration": 60 if i else 99999},
                                   {"x-appwrite-session": bob, "x-forwarded-for": f"198.51.100.{i % 200}"})
        assert status == (201 if i else 400)
    assert {k.lower(): v for k, v in headers.items()}["x-ratelimit-remaining"] == "0"
    status, headers, body = _post(stack, "/account/jwts", {}, {"x-appwrite-session": bob})
    assert (status, body["type"]) == (429, "general_rate_limit_exceeded")
    assert _post(stack, "/account/jwts", {}, {"x-appwrite-session": ada})[0] == 201  # another user
    clock.now += 60
    assert _post(stack, "/account/jwts", {}, {"x-appwrite-session": bob})[0] == 201  # the next minute


def test_the_client_ip_comes_from_the_trusted_headers(stack: Stack, monkeypatch) -> None:
    """appwrite 1.9.6 `src/Appwrite/Utopia/Request.php`: `_APP_TRUSTED_HEADERS` (default `x-forwarded-for`);
    utopia-php/http 2.0.0-rc9 `src/Http/Adapter/Swoole/Request.php` `getIP()`: per trusted header in order, its
    leftmost entry if it is a valid IP, else the next header, else the TCP peer. The anonymous sessions' 50 an hour
    (`ip:{ip}`) and the function's `x-appwrite-client-ip` (Executions/Create.php) both use it."""
    monkeypatch.setattr("devstack.accounts.time", _Clock(1_900_000_000.0 + 5))
    for _ in range(50):
        assert _post(stack, "/account/sessions/anonymous", {},
                     {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})[0] == 201
    status, _, body = _post(stack, "/account/sessions/anonymous", {}, {"x-forwarded-for": "203.0.113.7"})
    assert (status, body["type"]) == (429, "general_rate_limit_exceeded")
    assert _post(stack, "/account/sessions/anonymous", {}, {"x-forwarded-for": "10.0.0.1, 203.0.113.7"})[0] == 201
    assert _post(stack, "/account/sessions/anonymous", {}, {"x-forwarded-for": "unknown, 203.0.113.7"})[0] == 201
    seen = _run(stack, client=_client(stack).add_header("x-forwarded-for", "2001:db8::1, 10.0.0.9"))["headers"]
    assert seen["x-appwrite-client-ip"] == "2001:db8::1"
    assert _run(stack, client=_client(stack).add_header("x-forwarded-for", "fe80::1%eth0"))["headers"][
        "x-appwrite-client-ip"] == "127.0.0.1"  # a zone index is no valid IP to PHP: the peer
    monkeypatch.setenv("_APP_TRUSTED_HEADERS", "CF-Connecting-IP, x-forwarded-for")
    seen = _run(stack, client=_client(stack).add_header("cf-connecting-ip", "192.0.2.44")
                .add_header("x-forwarded-for", "203.0.113.7"))["headers"]
    assert seen["x-appwrite-client-ip"] == "192.0.2.44"


def test_the_execution_model_has_resource_id_and_type_on_the_2x_line(stack: Stack) -> None:
    """appwrite `src/Appwrite/Utopia/Response/Model/Execution.php` (main after 1.9.6, the 2.x model): `resourceId`,
    `resourceType`, no `functionId`; SDK 27.0.0 `appwrite/models/execution.py` reads them. An SDK asking a format
    below 2.0.0 gets `functionId` instead (`src/Appwrite/Utopia/Response/Filters/V27.php`)."""
    execution = Functions(_client(stack)).create_execution("probe")
    assert (execution.resourceid, execution.resourcetype.value) == ("probe", "functions")
    raw = {}
    for fmt in ("2.5.0", "1.8.0"):
        request = urllib.request.Request(f"{stack.endpoint}/functions/probe/executions/{execution.id}", headers={
            "x-appwrite-project": stack.project_id, "x-appwrite-key": stack.api_key,
            "x-appwrite-response-format": fmt})
        with urllib.request.urlopen(request, timeout=5) as answer:
            raw[fmt] = json.loads(answer.read())
    assert raw["2.5.0"]["resourceId"] == "probe" and "functionId" not in raw["2.5.0"]
    assert raw["1.8.0"]["functionId"] == "probe" and "resourceId" not in raw["1.8.0"]
