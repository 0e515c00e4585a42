"""The Nova/Neutron API of a lab topology over real HTTP, for the real ``openstack`` CLI.

The lab tier proves the host side (SSH, probe, parsers, path) against real hosts; the API side is
proven in tests/commands and tests/stack. So here the API answers with ``Topology.api()`` —
bodies shaped like the API reference — and with the few query semantics netpath relies on:
Nova's ``name`` filter is a regex, ``hypervisor_hostname_pattern`` a substring, Neutron filters on
any attribute (repeated values OR'ed). Anything else is a 404, and every request is logged
(``requests``) so a test sees what the CLI asked.

    with LabApi(topology) as api:
        api.cloud_entry()   # the clouds.yaml keys that point openstacksdk at it (no Keystone)
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.lab.topology import Topology

COMPUTE = "/compute/v2.1"
NETWORK = "/network"


class LabApi:
    def __init__(self, topology: Topology) -> None:
        self.bodies = topology.api()
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def cloud_entry(self) -> dict[str, Any]:
        return {"auth_type": "none", "auth": {"endpoint": f"{self.url}/"},
                "compute_endpoint_override": f"{self.url}{COMPUTE}",
                "network_endpoint_override": f"{self.url}{NETWORK}"}

    # -- routes -------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        b = self.bodies
        if path == COMPUTE:  # version discovery, as Nova and Neutron answer it
            return 200, {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.96",
                                     "min_version": "2.1",
                                     "links": [{"rel": "self", "href": f"{self.url}{COMPUTE}/"}]}}
        if path == NETWORK:
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{self.url}{NETWORK}/v2.0/"}]}]}
        if path.startswith(COMPUTE + "/servers/"):
            rest = path[len(COMPUTE + "/servers/"):]
            if rest == "detail":
                names = query.get("name", [])
                return 200, {"servers": [s for s in b["servers"]
                                         if all(re.search(n, s["name"]) for n in names)]}
            found = [s for s in b["servers"] if s["id"] == rest]
            return (200, {"server": found[0]}) if found else (404, _fault("Server not found"))
        if path == COMPUTE + "/os-hypervisors/detail":
            pattern = (query.get("hypervisor_hostname_pattern") or [""])[0].lower()
            found = [h for h in b["hypervisors"] if pattern in h["hypervisor_hostname"].lower()]
            return (200, {"hypervisors": found}) if found else (404, _fault("No hypervisor"))
        if path.startswith(NETWORK + "/v2.0/"):
            collection = path[len(NETWORK + "/v2.0/"):]
            if collection in ("ports", "networks", "agents"):
                return 200, {collection: _neutron_filter(b[collection], query)}
        return 404, _fault(f"no route for {path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server calls it by that name
                url = urlsplit(self.path)
                api.requests.append(f"GET {url.path}")
                status, body = api.answer(url.path.rstrip("/"), parse_qs(url.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # requests are in api.requests
                pass

        return Handler


def _neutron_filter(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[Any]:
    """Neutron's list filters: every attribute given must match one of its values; ``fields``
    trims the bodies."""
    fields = query.get("fields")
    out = []
    for item in items:
        if all(_str(item.get(k)) in v for k, v in query.items() if k != "fields"):
            out.append({k: item[k] for k in fields if k in item} if fields else item)
    return out


def _str(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fault(message: str) -> dict[str, Any]:
    return {"itemNotFound": {"code": 404, "message": message}}
