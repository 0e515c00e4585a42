"""One-line CommandErrors for the API side: what happened, and what to do about it."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from osc_lib.exceptions import CommandError

from osc_netpath.cloud.facts import ServerFacts

# Why a server has no compute host, by Nova status, and what the operator can do.
_NO_HOST_WHY = {
    "SHELVED_OFFLOADED": "shelved and offloaded, it runs on no hypervisor "
    "(unshelve it to trace it)",
    "BUILD": "it is still being scheduled (retry once it is ACTIVE)",
    "ERROR": "it failed before reaching a hypervisor (see the fault in 'openstack server show')",
}
# openstack.config's names for credentials that came from no clouds.yaml profile.
_ANONYMOUS_PROFILES = frozenset({"", "defaults", "envvars"})


def profile_name(conn: Any) -> str | None:
    """The clouds.yaml profile behind ``conn``, when it came from one."""
    name = getattr(getattr(conn, "config", None), "name", None)
    return None if name in _ANONYMOUS_PROFILES else name


def no_host_error(server: ServerFacts) -> CommandError:
    why = _NO_HOST_WHY.get(server.status, "it has no compute host")
    return CommandError(
        f"Server {server.name} ({server.id}) is {server.status}: {why}; "
        "there is nothing to trace on a hypervisor."
    )


def hidden_host_error(conn: Any, server: ServerFacts) -> CommandError:
    profile = profile_name(conn)
    use = "use an admin cloud profile"
    if profile:
        use = f"cloud profile '{profile}' lacks the admin role: {use}"
    return CommandError(
        f"Server {server.name} ({server.id}): its compute host is hidden by policy "
        f"(OS-EXT-SRV-ATTR:host is admin-only); {use} (--os-cloud), "
        "or name the hypervisor with --host HOST."
    )


def api_error(what: str, proxy: Any, exc: Exception, **hints: Any) -> CommandError:
    """A failed API call the trace cannot do without, told as the service answered it."""
    return CommandError(f"Failed {what}: {answer_of(proxy, exc, **hints)}")


# --- what an API answered ---------------------------------------------------------------------

# openstacksdk service types -> the service an operator knows, and the log that explains a
# failure on its side (HTTP 5xx).
_SERVICES = {"compute": "Nova", "network": "Neutron", "identity": "Keystone",
             "placement": "Placement"}
_SERVER_LOGS = {"Nova": "nova-api", "Neutron": "neutron-server", "Keystone": "keystone",
                "Placement": "placement-api"}
_MESSAGE_MAX = 400  # an HTML error page must not become a screenful
_TAG = re.compile(r"<[^>]*>")


def service_name(proxy: Any) -> str:
    """Nova, Neutron…: the service behind an openstacksdk proxy (its service type otherwise)."""
    kind = str(getattr(proxy, "service_type", "") or "the API")
    return _SERVICES.get(kind, kind)


def proxy_profile(proxy: Any) -> str | None:
    """The clouds.yaml profile of the Connection an openstacksdk proxy belongs to."""
    return profile_name(getattr(proxy, "_connection", None))


def message_of(response: Any) -> str:
    """The service's own reason on one line, from an OpenStack error body.

    Nova ``{"itemNotFound": {"message"}}``, Neutron ``{"NeutronError": {"message"}}``, Keystone
    ``{"error": {"message"}}``, Placement ``{"errors": [{"detail"}]}``; HTML pages (a proxy in
    front of the API) without their tags; else the text, else the HTTP reason phrase.
    """
    headers = getattr(response, "headers", None) or {}
    kind = str(headers.get("Content-Type", ""))
    text = str(getattr(response, "text", "") or "")
    found = None
    if "json" in kind:
        try:
            found = _json_message(response.json())
        except (ValueError, RecursionError):  # not JSON after all, or hostile nesting
            found = None
    elif "html" in kind:
        found = ": ".join(dict.fromkeys(
            line for line in (" ".join(_TAG.sub(" ", raw).split()) for raw in text.splitlines())
            if line))
    return _one_line(found or text or str(getattr(response, "reason", "") or ""))


def _json_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("detail") or errors[0].get("title") or "") or None
    for value in body.values():
        if isinstance(value, dict) and value.get("message"):
            return str(value["message"])
    return str(body["message"]) if body.get("message") else None


def _one_line(text: str) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= _MESSAGE_MAX else flat[:_MESSAGE_MAX - 1] + "…"


def answered(
    service: str, response: Any, *, missing: str | None = None,
    admin_only: str | None = None, profile: str | None = None,
) -> str:
    """What ``service`` answered (status, request, its own message) and what the status asks.

    Only the status decides the hint: 401 the credentials, 403 policy (``admin_only`` names
    the admin-only API by default policy), 404 ``missing`` (what is not there), 5xx the
    service's log (with the request ID to look for); other statuses get none.
    """
    status = int(getattr(response, "status_code", 0) or 0)
    method = getattr(getattr(response, "request", None), "method", None)
    path = urlsplit(str(getattr(response, "url", "") or "")).path
    said = f"{service} answered HTTP {status}" + (f" to {method} {path}" if method and path else "")
    if reason := message_of(response):
        said += f" ({reason})"
    hint = _hint(service, status, response, missing, admin_only, profile)
    return f"{said}: {hint}" if hint else said


def _hint(service: str, status: int, response: Any, missing: str | None,
          admin_only: str | None, profile: str | None) -> str | None:
    profiled = f" of cloud profile '{profile}'" if profile else ""
    if status == 401:
        return (f"the credentials{profiled} were refused: check the auth settings "
                "(clouds.yaml, or the OS_* variables)")
    if status == 403:
        if admin_only:
            return f"forbidden by policy ({admin_only} by default): use an admin cloud profile"
        return f"forbidden by {service} policy" + (
            f" for cloud profile '{profile}'" if profile else "")
    if status == 404:
        return missing
    if status >= 500:
        headers = getattr(response, "headers", None) or {}
        request_id = headers.get("x-openstack-request-id")
        log = _SERVER_LOGS.get(service, service)
        return f"a server-side failure, see the {log} log" + (
            f" (request {request_id})" if request_id else "")
    return None


def unreachable(service: str, exc: Exception) -> str:
    """A request that got no HTTP answer at all (no endpoint, connect failure, timeout)."""
    return f"no answer from {service}: {_one_line(str(exc))}"


def answer_of(proxy: Any, exc: Exception, *, conn: Any = None, **hints: Any) -> str:
    """What the service behind ``proxy`` answered to the request that raised ``exc``.

    ``conn`` stands in for the proxy when the failure came while building one (the token).
    """
    response = getattr(exc, "response", None)
    service = service_name(proxy) if proxy is not None else "the cloud"
    if response is None or not getattr(response, "status_code", None):
        return unreachable(service, exc)
    # A refused token surfaces from whichever call came first: it is Keystone's answer.
    if urlsplit(str(getattr(response, "url", "") or "")).path.endswith("/auth/tokens"):
        service = "Keystone"
    profile = proxy_profile(proxy) if proxy is not None else profile_name(conn)
    return answered(service, response, profile=profile, **hints)
