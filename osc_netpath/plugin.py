"""OpenStackClient plugin hooks for osc-netpath.

OSC imports this module (and every command module) on every ``openstack`` run: it must stay tiny
and import nothing heavy.
"""
from __future__ import annotations

import argparse
from typing import Any

DEFAULT_API_VERSION = "1"
API_NAME = "netpath"
API_VERSION_OPTION = "os_netpath_api_version"
API_VERSIONS = {"1": "osc_netpath.plugin.NetpathClient"}


class NetpathClient:
    """netpath talks to Nova/Neutron through the SDK connection and to hosts over SSH.

    There is no netpath service endpoint; this object only carries the cloud profile's
    ``netpath:`` settings to the commands.
    """

    def __init__(self, cloud_config: dict[str, Any]) -> None:
        self.settings: dict[str, Any] = dict(cloud_config.get("netpath") or {})


def make_client(instance: Any) -> NetpathClient:
    """Return the netpath 'client' for the ClientManager."""
    return NetpathClient(instance.get_configuration())


def build_option_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Hook to add global options."""
    parser.add_argument(
        "--os-netpath-api-version",
        metavar="<netpath-api-version>",
        default=DEFAULT_API_VERSION,
        help="netpath command set version (default: %(default)s)",
    )
    return parser
