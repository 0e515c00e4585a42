"""One-line CommandErrors for the API side: what happened, and what to do about it."""
from __future__ import annotations

from typing import Any

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


def api_error(what: str, exc: Any) -> CommandError:
    """A failed API call the trace cannot do without."""
    detail = getattr(exc, "details", None) or getattr(exc, "message", None) or str(exc)
    status = getattr(exc, "status_code", "?")
    return CommandError(" ".join(f"Failed {what}: HTTP {status} {detail}".split()))
