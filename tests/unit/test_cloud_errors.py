"""cloud.errors: what an API answered, on one line, from the response alone (pure)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from osc_netpath.cloud.errors import answered, message_of


def _response(status: int, text: str, kind: str = "application/json", **kw: Any) -> Any:
    import json

    def body() -> Any:
        return json.loads(text)

    return SimpleNamespace(status_code=status, text=text, headers={"Content-Type": kind},
                           json=body, reason=kw.pop("reason", ""), url=kw.pop("url", ""), **kw)


def test_each_service_s_fault_body_gives_its_message():
    assert message_of(_response(404, '{"itemNotFound": {"code": 404, "message": "gone"}}')) \
        == "gone"
    assert message_of(_response(409, '{"NeutronError": {"type": "InUse", "message": "busy", '
                                     '"detail": ""}}')) == "busy"
    assert message_of(_response(400, '{"errors": [{"status": 400, "title": "Bad Request", '
                                     '"detail": "Invalid query"}]}')) == "Invalid query"
    assert message_of(_response(500, '{"message": "ironic-style"}')) == "ironic-style"


def test_html_text_and_nothing_at_all():
    page = "<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p>\n<p>nginx</p></body></html>"
    assert message_of(_response(502, page, "text/html")) == "502 Bad Gateway: nginx"
    assert message_of(_response(500, "plain\ntrace\x1b[31m", "text/plain")) == "plain trace [31m"
    assert message_of(_response(503, "", "text/plain", reason="Service Unavailable")) == \
        "Service Unavailable"
    assert message_of(_response(500, "[" * 100_000)) == "[" * 399 + "…"  # no JSON, capped


def test_no_request_method_is_guessed():
    said = answered("Nova", _response(500, "boom", "text/plain", url="https://n/v2.1/x"))
    assert said == "Nova answered HTTP 500 (boom): a server-side failure, see the nova-api log"


def test_the_status_alone_picks_the_hint():
    def hint(status: int, **kw: Any) -> str:
        said = answered("Neutron", _response(status, "{}", url="https://q/v2.0/ports",
                                             request=SimpleNamespace(method="GET")), **kw)
        return said.removeprefix(f"Neutron answered HTTP {status} to GET /v2.0/ports ({{}})")

    assert hint(404, missing="no such port") == ": no such port"
    assert hint(404) == hint(406) == hint(409) == ""  # the answer only: no guess
    assert hint(403) == ": forbidden by Neutron policy"
    assert hint(403, profile="demo") == ": forbidden by Neutron policy for cloud profile 'demo'"
    assert hint(403, admin_only="agents is admin-only", profile="demo") == (
        ": forbidden by policy (agents is admin-only by default): use an admin cloud profile")
    assert hint(401) == (": the credentials were refused: check the auth settings "
                         "(clouds.yaml, or the OS_* variables)")
    assert hint(502) == ": a server-side failure, see the neutron-server log"
