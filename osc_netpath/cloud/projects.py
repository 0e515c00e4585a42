"""A project named by the user, as its ID (Keystone): shared by zone-map and audit."""
from __future__ import annotations

import re
from typing import Any

from osc_netpath.cloud.errors import answer_of

# Keystone's own IDs (uuid4 hex) and the dashed form some deployments' identity backends use.
PROJECT_ID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


class ProjectError(Exception):
    """The project could not be told (one line, says what to do)."""


def resolve(conn: Any, name_or_id: str) -> str:
    """A project ID: IDs are used as they are, names cost one ``GET /v3/projects?name=``."""
    if not name_or_id:  # ?name= with nothing would be every project
        raise ProjectError("no project given: pass a project name or ID")
    if PROJECT_ID.match(name_or_id):
        return name_or_id
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    try:
        found = list(conn.identity.projects(name=name_or_id))
    except (sdk_exc.HttpException, ksa_exc.ClientException) as exc:
        advice = "; pass the project ID" if isinstance(exc, sdk_exc.ForbiddenException) else ""
        raise ProjectError(f"cannot look up project {name_or_id!r} by name: "
                           f"{answer_of(conn.identity, exc)}{advice}") from None
    if not found:
        raise ProjectError(f"no project named {name_or_id!r}: pass the project ID")
    if len(found) > 1:
        which = ", ".join(f"{p.id} (domain {p.domain_id})" for p in found)
        raise ProjectError(f"more than one project is named {name_or_id!r}: {which}; "
                           "pass the ID")
    project_id: str = found[0].id
    return project_id
