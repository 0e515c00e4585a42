"""What a name may look like before it goes near a remote command line: strict character sets,
never a leading "-" (it would read as an option). Shared by the probe and the configuration."""
from __future__ import annotations

import re

DOMAIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")  # instance-0000000a
BRIDGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\Z")  # IFNAMSIZ 16 incl. NUL
NETNS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")  # qdhcp-<network uuid>
CONTAINER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")  # docker/podman names
RUNTIMES = ("auto", "host", "docker", "podman")  # probe.sh --runtime
