"""`netpath show` says what each API call answered: status, request, the service's own message.

Only the status picks the hint: 401 the credentials, 403 policy, 404 what is not there, 5xx the
service's log. Bodies are shaped like each service's faults (Nova ``computeFault`` /
``itemNotFound``, Neutron ``NeutronError``, Keystone ``error``); a proxy in front of an API
answers HTML.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import requests
from osc_lib import exceptions

from tests.commands import fakes
from tests.commands.test_netpath_show import FakeApp, run

HYPERVISORS = f"{fakes.COMPUTE_URL}/os-hypervisors/detail"
SERVER = "{compute}/servers/{id}"


def _warnings(cloud: fakes.FakeCloud, *argv: str, **netpath: str) -> list[str]:
    app = FakeApp(cloud.connection(), netpath=netpath)
    run(app, *argv, "-f", "json")
    return app.stderr.getvalue().splitlines()


# --- answers the trace goes on without: one warning line each ---------------------------------


def test_nova_500_on_the_hypervisors_is_nova_failing_not_policy(requests_mock, recorded):
    cloud = fakes.scenario(requests_mock)
    requests_mock.get(HYPERVISORS, status_code=500, headers=fakes.WITH_REQUEST_ID,
                      json=fakes.NOVA_500)

    warnings = _warnings(cloud, "web-1")

    assert ("warning: host_ip of compute-1 unknown: Nova answered HTTP 500 to GET "
            f"/v2.1/os-hypervisors/detail {fakes.NOVA_500_SAID}: a server-side failure, see the "
            f"nova-api log (request {fakes.REQUEST_ID})") in warnings


def test_member_profile_403_on_the_hypervisors_is_policy(requests_mock, recorded):
    cloud = fakes.scenario(requests_mock, admin=False, cloud_name="demo")

    warnings = _warnings(cloud, "web-1", "--host", fakes.HOST)

    assert ("warning: host_ip of compute-1 unknown: Nova answered HTTP 403 to GET "
            "/v2.1/os-hypervisors/detail (Policy doesn't allow "
            "os_compute_api:os-hypervisors:list-detail to be performed.): forbidden by policy "
            "(os-hypervisors is admin-only by default): use an admin cloud profile") in warnings
    assert ("warning: no L2 agent visible for compute-1: port bindings are hidden from this "
            "cloud profile too (the agents API and binding:* are admin-only by default)"
            ) in warnings


def test_admin_host_nova_does_not_know_is_not_found_not_policy(requests_mock, recorded):
    cloud = fakes.scenario(requests_mock)

    # an address for it, so nothing but the API speaks about nosuchhost
    warnings = _warnings(cloud, "web-1", "--host", "nosuchhost",
                         "--host-address", "nosuchhost=192.0.2.99")

    assert ("warning: host_ip of nosuchhost unknown: Nova answered HTTP 404 to GET "
            "/v2.1/os-hypervisors/detail (No hypervisor matching 'nosuchhost' could be found.): "
            "Nova knows no hypervisor named nosuchhost") in warnings
    assert "warning: Neutron lists no L2 agent on nosuchhost" in warnings
    assert not [w for w in warnings if "policy" in w or "admin" in w]
    assert [j[0].host for j in recorded.jobs[-1]] == ["nosuchhost"]


def test_neutron_500_on_the_agents_is_a_note(requests_mock, recorded):
    cloud = fakes.scenario(requests_mock)
    requests_mock.get(f"{fakes.NETWORK_URL}/v2.0/agents", status_code=500, headers=fakes.JSON,
                      json=fakes.NEUTRON_500)

    warnings = _warnings(cloud, "web-1")

    assert ("warning: L2 agents unknown: Neutron answered HTTP 500 to GET /v2.0/agents (Request "
            "Failed: internal server error while processing your request.): a server-side "
            "failure, see the neutron-server log") in warnings


# --- answers the trace cannot do without: one CommandError line each -------------------------


class Fault(NamedTuple):
    method: str
    url: str  # {compute}, {network}, {auth}, {id} (the server's) are filled in
    argv: tuple[str, ...]
    reply: dict[str, Any]  # requests-mock response arguments
    said: str  # the whole error line, with the same fields


FAULTS = {
    "nova-500-server-by-id": Fault(
        "GET", SERVER, ("{id}",),
        {"status_code": 500, "headers": fakes.WITH_REQUEST_ID, "json": fakes.NOVA_500},
        f"Failed looking up server {{id}}: Nova answered HTTP 500 to GET /v2.1/servers/{{id}} "
        f"{fakes.NOVA_500_SAID}: a server-side failure, see the nova-api log (request "
        f"{fakes.REQUEST_ID})"),
    "nova-403-own-servers": Fault(
        "GET", "{compute}/servers/detail", ("web-1",),
        {"status_code": 403, "headers": fakes.JSON, "json": {"forbidden": {
            "code": 403, "message": "Policy doesn't allow os_compute_api:servers:detail to be "
                                    "performed."}}},
        "Failed listing the servers named 'web-1': Nova answered HTTP 403 to GET "
        "/v2.1/servers/detail (Policy doesn't allow os_compute_api:servers:detail to be "
        "performed.): forbidden by Nova policy for cloud profile 'fake-admin'"),
    "neutron-403-networks": Fault(
        "GET", "{network}/v2.0/networks", ("web-1",),
        {"status_code": 403, "headers": fakes.JSON, "json": {"NeutronError": {
            "type": "PolicyNotAuthorized", "detail": "",
            "message": "rule:get_network is disallowed by policy"}}},
        "Failed listing the server's networks: Neutron answered HTTP 403 to GET /v2.0/networks "
        "(rule:get_network is disallowed by policy): forbidden by Neutron policy for cloud "
        "profile 'fake-admin'"),
    "proxy-html-503-ports": Fault(
        "GET", "{network}/v2.0/ports", ("web-1",),
        {"status_code": 503, "headers": {"Content-Type": "text/html"}, "text": fakes.HTML_503},
        "Failed listing the ports of server {id}: Neutron answered HTTP 503 to GET /v2.0/ports "
        "(503 Service Unavailable: No server is available to handle this request.): a "
        "server-side failure, see the neutron-server log"),
    "keystone-401-token": Fault(
        "POST", "{auth}/auth/tokens", ("web-1",),
        {"status_code": 401, "headers": fakes.JSON, "json": {"error": {
            "code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}}},
        "Keystone answered HTTP 401 to POST /v3/auth/tokens (The request you have made requires "
        "authentication.): the credentials of cloud profile 'fake-admin' were refused: check "
        "the auth settings (clouds.yaml, or the OS_* variables)"),
    "neutron-no-answer": Fault(
        "GET", "{network}/v2.0/ports", ("web-1",),
        {"exc": requests.exceptions.ConnectionError("[Errno 111] Connection refused")},
        "no answer from Neutron: Unable to establish connection to "
        f"{fakes.NETWORK_URL}/v2.0/ports: [Errno 111] Connection refused"),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_failed_call_is_one_line_saying_what_the_service_answered(
        requests_mock, recorded, fault):
    cloud = fakes.scenario(requests_mock)
    fields = {"compute": fakes.COMPUTE_URL, "network": fakes.NETWORK_URL,
              "auth": fakes.AUTH_URL, "id": cloud.server["id"]}
    requests_mock.register_uri(fault.method, fault.url.format(**fields), **fault.reply)

    with pytest.raises(exceptions.CommandError) as err:
        run(FakeApp(cloud.connection()), *(a.format(**fields) for a in fault.argv))

    assert str(err.value) == fault.said.format(**fields)
    assert recorded.jobs == []  # nothing probed on a trace that could not be built


def test_a_catalog_without_the_service_is_one_line(requests_mock, recorded):
    cloud = fakes.scenario(requests_mock)
    token = cloud._token

    def without_neutron(request: Any, context: Any) -> dict[str, Any]:
        body = token(request, context)
        body["token"]["catalog"] = [s for s in body["token"]["catalog"] if s["type"] != "network"]
        return body

    requests_mock.post(f"{fakes.AUTH_URL}/auth/tokens", json=without_neutron, status_code=201,
                       headers={"X-Subject-Token": "fake-token", **fakes.JSON})

    with pytest.raises(exceptions.CommandError) as err:
        run(FakeApp(cloud.connection()), "web-1")

    assert str(err.value) == (
        "Service 'network' is disabled because its configuration could not be loaded. The "
        "service is not present in the service catalog: public endpoint for network service "
        "in RegionOne region not found")
