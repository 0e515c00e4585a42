"""Authenticate on demand for commands that can also run without a cloud (capture replay).

Such commands declare ``auth_required = False`` so that ``--capture`` works with no clouds.yaml
at all; osc-lib then built the cloud region without validating auth. When a live run needs the
API, redo the same steps osc-lib's ``prepare_to_run_command`` takes for an authenticated command.
"""
from __future__ import annotations

from typing import Any


def sdk_connection(app: Any) -> Any:
    cm = app.client_manager
    if not getattr(cm, "_auth_setup_completed", False):
        cm._auth_required = True
        app.cloud = app.cloud_config.get_one(
            cloud=app.options.cloud,
            argparse=app.options,
            validate=True,
            app_name=cm._app_name,
            app_version=cm._app_version,
        )
        cm._cli_options = app.cloud
        cm.setup_auth()
    return cm.sdk_connection


def netpath_settings(app: Any) -> dict[str, Any]:
    """The ``netpath:`` mapping of the selected cloud profile (empty when there is none)."""
    from osc_netpath import config

    return dict(config.settings_mapping(app.client_manager.get_configuration().get("netpath")))
