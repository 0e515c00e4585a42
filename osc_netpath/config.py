"""Per-cloud netpath settings: the ``netpath:`` mapping of a clouds.yaml entry, plus CLI overrides.

openstack.config hands the mapping over with ``-`` turned into ``_`` in every key (host names in
``hosts:`` too) and ints/floats turned into strings, so both spellings are accepted and every value
is coerced and checked here. Nothing from the API reaches an address unvalidated.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import string
from dataclasses import dataclass, field
from typing import Any

from osc_lib.exceptions import CommandError

from osc_netpath.host.names import CONTAINER_RE, RUNTIMES
from osc_netpath.host.transport import JUMP_RE, SshTarget

ADDRESS_MODES = ("host_ip", "host")
TEMPLATE_FIELDS = frozenset({"host", "host_ip", "short_host"})

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?\Z")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\Z")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class NetpathConfig:
    ssh_user: str | None = None  # None: ~/.ssh/config User, then the local user
    ssh_port: int | None = None  # None: ~/.ssh/config Port, then 22
    identity_files: list[str] = field(default_factory=list)  # []: ~/.ssh/config, agent, defaults
    jump_host: str | None = None  # "[user@]host[:port]"
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts (+ /etc/ssh/ssh_known_hosts)
    sudo: bool = False  # run the probe under `sudo -n`
    address: str = "host_ip"  # host_ip | host | template with {host} {host_ip} {short_host}
    hosts: dict[str, str] = field(default_factory=dict)  # Nova host -> address; wins
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    concurrency: int = 10
    ovs_container: str | None = None  # e.g. kolla "openvswitch_vswitchd"; None: auto-detect
    libvirt_container: str | None = None  # e.g. "nova_libvirt"
    container_runtime: str | None = None  # auto | host | docker | podman
    use_ssh_config: bool = True  # honour ~/.ssh/config
    agent: bool = True  # offer ssh-agent keys


# clouds.yaml key (after "-" -> "_") -> NetpathConfig field
_KEYS = {
    "ssh_user": "ssh_user", "user": "ssh_user",
    "ssh_port": "ssh_port", "port": "ssh_port",
    "identity_file": "identity_files", "identity_files": "identity_files",
    "jump_host": "jump_host",
    "known_hosts": "known_hosts",
    "sudo": "sudo",
    "address": "address",
    "hosts": "hosts",
    "connect_timeout": "connect_timeout",
    "command_timeout": "command_timeout",
    "concurrency": "concurrency",
    "ovs_container": "ovs_container",
    "libvirt_container": "libvirt_container",
    "container_runtime": "container_runtime",
    "ssh_config": "use_ssh_config",
    "ssh_agent": "agent",
}


def _fail(where: str, problem: str, value: Any) -> CommandError:
    return CommandError(f"{where}: {problem} (got {value!r})")


# ------------------------------------------------------------------------------- coercion


def _bool(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _fail(where, "want true or false", value)


def _int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise _fail(where, f"want a whole number {lo}-{hi}", value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _fail(where, f"want a whole number {lo}-{hi}", value) from None
    if not lo <= number <= hi:
        raise _fail(where, f"want a whole number {lo}-{hi}", value)
    return number


def _seconds(where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _fail(where, "want seconds > 0", value)
    try:
        number = float(str(value).strip())
    except ValueError:
        raise _fail(where, "want seconds > 0", value) from None
    if not 0 < number <= 86400:
        raise _fail(where, "want seconds > 0 (at most a day)", value)
    return number


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "want a non-empty string", value)
    return value.strip()


def _path(where: str, value: Any) -> str:
    return os.path.expanduser(_str(where, value))


def _paths(where: str, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [_path(where, item) for item in items]


def _user(where: str, value: Any) -> str:
    text = _str(where, value)
    if not _USER_RE.match(text):
        raise _fail(where, "not a valid user name", value)
    return text


def _jump(where: str, value: Any) -> str:
    text = _str(where, value)
    m = JUMP_RE.match(text)
    if not m:
        raise _fail(where, "want [user@]host[:port]", value)
    if m["user"]:
        _user(where, m["user"])
    _address(where, m["ip6"] or m["host"])
    if m["port"]:
        _int(where, m["port"], 1, 65535)
    return text


def _container(where: str, value: Any) -> str:
    text = _str(where, value)
    if not CONTAINER_RE.match(text):
        raise _fail(where, "not a valid container name", value)
    return text


def _runtime(where: str, value: Any) -> str:
    text = _str(where, value).lower()
    if text not in RUNTIMES:
        raise _fail(where, f"want one of {', '.join(RUNTIMES)}", value)
    return text


def _address_mode(where: str, value: Any) -> str:
    text = _str(where, value)
    if "{" in text or "}" in text:
        _check_template(where, text)
        return text
    mode = text.lower().replace("-", "_")
    if mode not in ADDRESS_MODES:
        raise _fail(where, "want host_ip, host, or a template like '{host}.mgmt.example.com'",
                    value)
    return mode


def _check_template(where: str, template: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise _fail(where, "malformed template", template) from None
    fields = [(name, spec, conv) for _, name, spec, conv in parts if name is not None]
    if not fields:
        raise _fail(where, "template names no field", template)
    for name, spec, conv in fields:
        if name not in TEMPLATE_FIELDS or spec or conv:
            raise _fail(where, "templates may only use {host}, {host_ip}, {short_host}", template)


def _address(where: str, value: Any) -> str:
    """An IP address or a DNS name: nothing else reaches the SSH layer."""
    import ipaddress

    text = _str(where, value)
    try:
        if "%" not in text:  # no IPv6 zone ids: they are free text
            return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if len(text) > 253 or not _HOSTNAME_RE.match(text) or text.startswith("-"):
        raise _fail(where, "not an IP address or host name", value)
    return text


def _hosts(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, "want a mapping {host: address}", value)
    return {str(h): _address(f"{where}: {h}", a) for h, a in value.items()}


_COERCE = {
    "ssh_user": _user,
    "ssh_port": lambda w, v: _int(w, v, 1, 65535),
    "identity_files": _paths,
    "jump_host": _jump,
    "known_hosts": _path,
    "sudo": _bool,
    "address": _address_mode,
    "hosts": _hosts,
    "connect_timeout": _seconds,
    "command_timeout": _seconds,
    "concurrency": lambda w, v: _int(w, v, 1, 1000),
    "ovs_container": _container,
    "libvirt_container": _container,
    "container_runtime": _runtime,
    "use_ssh_config": _bool,
    "agent": _bool,
}


# ------------------------------------------------------------------------------- public


# Keys openstack.config always puts in a cloud's configuration: tells one from a bare mapping.
_CLOUD_KEYS = frozenset({"auth", "auth_type", "region_name", "interface", "identity_api_version"})


def settings_mapping(value: Any) -> dict[str, Any]:
    """The ``netpath:`` value as a mapping: {} when absent; anything else (a string, a list, a
    number: a YAML slip) is the user's to fix, said in one line."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise CommandError(f"clouds.yaml netpath: want a mapping of settings (key: value "
                           f"lines under netpath:), got {type(value).__name__} {shown}")
    return value


def load(cloud_config: Any) -> NetpathConfig:
    """Settings from ``client_manager.get_configuration()`` (its ``netpath`` key), or from the
    ``netpath`` mapping itself; defaults when there is none."""
    cloud_config = settings_mapping(cloud_config)
    if "netpath" in cloud_config:
        raw = settings_mapping(cloud_config["netpath"])
    elif _CLOUD_KEYS & set(cloud_config):
        raw = {}  # a cloud profile without netpath settings
    else:
        raw = cloud_config
    values: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in raw.items():
        if _norm(key) == ZONE_MAP_KEY:
            continue  # zone_map_settings() reads it
        name, where = _known(key, _KEYS, "clouds.yaml netpath")
        if name in seen:
            raise CommandError(f"clouds.yaml netpath: {key!r} and {seen[name]!r} set the same "
                               "thing; keep one")
        seen[name] = str(key)
        if value is None:
            continue
        values[name] = _COERCE[name](where, value)
    return NetpathConfig(**values)


def add_arguments(parser: argparse.ArgumentParser | Any) -> Any:
    """Add the SSH override flags (they win over clouds.yaml ``netpath:``)."""
    group = parser.add_argument_group("hypervisor access (overrides clouds.yaml netpath:)")
    group.add_argument("--ssh-user", metavar="<user>", help="SSH user on the hypervisors")
    group.add_argument("--ssh-port", metavar="<port>", help="SSH port on the hypervisors")
    group.add_argument("--ssh-identity", metavar="<file>", action="append",
                       help="SSH private key file (repeatable)")
    group.add_argument("--ssh-jump", metavar="<[user@]host[:port]>", help="SSH jump host")
    group.add_argument("--known-hosts", metavar="<file>", help="known_hosts file to verify with")
    sudo = group.add_mutually_exclusive_group()
    sudo.add_argument("--sudo", dest="sudo", action="store_true", default=None,
                      help="run the probe with sudo -n")
    sudo.add_argument("--no-sudo", dest="sudo", action="store_false", help="do not use sudo")
    group.add_argument("--address", metavar="<host_ip|host|template>",
                       help="how to reach a host: host_ip (from the hypervisor API), host "
                       "(Nova host name), or a template like '{host}.mgmt.example.com'")
    group.add_argument("--host-address", metavar="<host>=<address>", action="append",
                       help="address of one host (repeatable; wins over --address)")
    group.add_argument("--connect-timeout", metavar="<seconds>", help="SSH connect timeout")
    group.add_argument("--command-timeout", metavar="<seconds>", help="probe timeout per host")
    group.add_argument("--concurrency", metavar="<n>", help="hosts probed at the same time")
    return group


_FLAGS = {  # parsed_args attribute -> (NetpathConfig field, flag for messages)
    "ssh_user": ("ssh_user", "--ssh-user"),
    "ssh_port": ("ssh_port", "--ssh-port"),
    "ssh_identity": ("identity_files", "--ssh-identity"),
    "ssh_jump": ("jump_host", "--ssh-jump"),
    "known_hosts": ("known_hosts", "--known-hosts"),
    "sudo": ("sudo", "--sudo"),
    "address": ("address", "--address"),
    "connect_timeout": ("connect_timeout", "--connect-timeout"),
    "command_timeout": ("command_timeout", "--command-timeout"),
    "concurrency": ("concurrency", "--concurrency"),
}


def apply_args(cfg: NetpathConfig, parsed_args: argparse.Namespace) -> NetpathConfig:
    """A copy of ``cfg`` with the flags that were given applied."""
    changes: dict[str, Any] = {}
    for attr, (name, flag) in _FLAGS.items():
        value = getattr(parsed_args, attr, None)
        if value is not None:
            changes[name] = _COERCE[name](flag, value)
    pairs = getattr(parsed_args, "host_address", None) or []
    if pairs:
        hosts = dict(cfg.hosts)
        for pair in pairs:
            host, sep, addr = str(pair).partition("=")
            if not sep or not host.strip():
                raise _fail("--host-address", "want HOST=ADDRESS", pair)
            hosts[host.strip()] = _address(f"--host-address {host.strip()}", addr)
        changes["hosts"] = hosts
    return dataclasses.replace(cfg, **changes)


def _lookup(hosts: dict[str, str], host: str) -> str | None:
    # openstack.config rewrote "-" to "_" in the map's keys: match that spelling too.
    for key in (host, host.replace("-", "_")):
        if key in hosts:
            return hosts[key]
    return None


def address_for(cfg: NetpathConfig, host: str, host_ip: str | None) -> str:
    """The validated address to SSH to for Nova host ``host``."""
    mapped = _lookup(cfg.hosts, host)
    if mapped is not None:
        return mapped
    help_ = (f"set `netpath: address:` (host, or a template like '{{host}}.mgmt.example.com') "
             f"or `netpath: hosts: {{{host}: ADDRESS}}` in clouds.yaml, or pass "
             f"--host-address {host}=ADDRESS")
    if cfg.address == "host_ip" or "{host_ip}" in cfg.address:
        if not host_ip:
            raise CommandError(f"no SSH address for host {host!r}: the hypervisor API gave no "
                               "host_ip (a network node has none; a host_ip note, if any, says "
                               f"what Nova answered); {help_}")
        host_ip = _address(f"host_ip of {host}", host_ip)
    if cfg.address == "host_ip":
        assert host_ip
        return host_ip
    if not _HOSTNAME_RE.match(host) or len(host) > 253:
        raise CommandError(f"Nova host name {host!r} cannot be used as an address; {help_}")
    if cfg.address == "host":
        return _address(f"host {host}", host)
    _check_template("netpath: address", cfg.address)
    rendered = cfg.address.format(host=host, host_ip=host_ip or "", short_host=host.split(".")[0])
    try:
        return _address(f"netpath: address {cfg.address!r} for {host}", rendered)
    except CommandError as exc:
        raise CommandError(f"{exc}; {help_}") from None


def probe_options(cfg: NetpathConfig) -> dict[str, Any]:
    """Probe request settings from the config: sudo always, container overrides when set."""
    options: dict[str, Any] = {"sudo": cfg.sudo}
    for name, value in (("runtime", cfg.container_runtime), ("ovs_container", cfg.ovs_container),
                        ("libvirt_container", cfg.libvirt_container)):
        if value is not None:
            options[name] = value
    return options


def target_for(cfg: NetpathConfig, host: str, host_ip: str | None) -> SshTarget:
    """How to SSH to Nova host ``host`` (hypervisor ``host_ip`` from the API, if known)."""
    return SshTarget(
        host=host,
        address=address_for(cfg, host, host_ip),
        port=cfg.ssh_port,
        username=cfg.ssh_user,
        identity_files=list(cfg.identity_files),
        known_hosts=cfg.known_hosts,
        jump_host=cfg.jump_host,
        connect_timeout=cfg.connect_timeout,
        command_timeout=cfg.command_timeout,
        use_ssh_config=cfg.use_ssh_config,
        agent=cfg.agent,
    )


# ------------------------------------------------------------------------------- zone-map

ZONE_MAP_KEY = "zone_map"


@dataclass
class ZoneMapSettings:
    """What ``aggregate zone-map`` cannot read through the API: nova.conf, as the user says it.

    clouds.yaml ``netpath: zone_map:`` takes nova.conf's own option names; the CLI flags win.
    """

    filters: str | None = None  # [filter_scheduler] enabled_filters (None: zone-map's default)
    default_zone: str = "nova"  # [DEFAULT] default_availability_zone
    placement: bool = True  # ask Placement's allocation candidates with --flavor
    placement_isolation: bool = False  # [scheduler] enable_isolated_aggregate_filtering
    tenant_aggregates: bool = False  # [scheduler] limit_tenants_to_placement_aggregate
    tenant_aggregate_required: bool = False  # [scheduler] placement_aggregate_required_for_tenants
    image_type_support: bool = False  # [scheduler] query_placement_for_image_type_support
    image_metadata_prefilter: bool = False  # [scheduler] image_metadata_prefilter


_ZONE_MAP_KEYS = {
    "enabled_filters": "filters",
    "default_availability_zone": "default_zone",
    "placement": "placement",
    "enable_isolated_aggregate_filtering": "placement_isolation",
    "limit_tenants_to_placement_aggregate": "tenant_aggregates",
    "placement_aggregate_required_for_tenants": "tenant_aggregate_required",
    "query_placement_for_image_type_support": "image_type_support",
    "image_metadata_prefilter": "image_metadata_prefilter",
}


def _filters(where: str, value: Any) -> str:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return _str(where, value)


def _norm(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_")


def _known(key: Any, known: dict[str, str], section: str) -> tuple[str, str]:
    """(setting name, where it is for messages) of a clouds.yaml key; unknown: one line."""
    name = known.get(_norm(key))
    if name is None:
        raise CommandError(f"{section}: unknown setting {key!r}; known: "
                           f"{', '.join(sorted(known))}")
    return name, f"{section}: {key}"


def zone_map_settings(cloud_config: Any) -> ZoneMapSettings:
    """``netpath: zone_map:`` of the cloud profile (defaults when absent)."""
    cloud_config = settings_mapping(cloud_config)
    raw_netpath = settings_mapping(cloud_config.get("netpath")) if "netpath" in cloud_config \
        else cloud_config
    raw = None
    for key, value in raw_netpath.items():
        if str(key).strip().lower().replace("-", "_") == ZONE_MAP_KEY:
            raw = value
    if raw is None:
        return ZoneMapSettings()
    if not isinstance(raw, dict):
        raise CommandError(f"clouds.yaml netpath: zone_map: want a mapping of nova.conf "
                           f"options, got {type(raw).__name__} {raw!r}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name, where = _known(key, _ZONE_MAP_KEYS, "clouds.yaml netpath: zone_map")
        if value is None:
            continue
        if name == "filters":
            values[name] = _filters(where, value)
        elif name == "default_zone":
            values[name] = _str(where, value)
        else:
            values[name] = _bool(where, value)
    return ZoneMapSettings(**values)


def apply_zone_map_args(cfg: ZoneMapSettings, parsed_args: argparse.Namespace) -> ZoneMapSettings:
    """CLI flags over clouds.yaml (a flag left at None keeps the file's value)."""
    values = dict(cfg.__dict__)
    for name in ("filters", "default_zone", "placement", "placement_isolation",
                 "tenant_aggregates", "tenant_aggregate_required", "image_type_support",
                 "image_metadata_prefilter"):
        flag = getattr(parsed_args, name, None)
        if flag is not None:
            values[name] = flag
    return ZoneMapSettings(**values)
