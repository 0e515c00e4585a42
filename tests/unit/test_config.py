"""netpath settings: clouds.yaml (through the real openstack.config loader) and CLI overrides."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml
from openstack import config as os_config
from osc_lib.exceptions import CommandError

from osc_netpath import config
from osc_netpath.config import NetpathConfig


def _via_clouds_yaml(tmp_path: Path, netpath: dict[str, Any]) -> dict[str, Any]:
    """What osc-lib's client_manager.get_configuration() hands the plugin for this entry."""
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"c1": {
        "auth": {"auth_url": "http://127.0.0.1:5000/v3", "username": "u", "password": "p",
                 "project_name": "p"},
        "region_name": "RegionOne",
        "netpath": netpath,
    }}}))
    loader = os_config.OpenStackConfig(config_files=[str(path)], vendor_files=[])
    return loader.get_one(cloud="c1").config


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_no_netpath_block_gives_defaults(tmp_path: Path) -> None:
    cloud = _via_clouds_yaml(tmp_path, {})
    cloud.pop("netpath", None)
    assert config.load(cloud) == NetpathConfig()
    assert config.load(None) == NetpathConfig()
    assert config.load({"netpath": None}) == NetpathConfig()


def test_openstack_config_spellings_and_types(tmp_path: Path) -> None:
    cloud = _via_clouds_yaml(tmp_path, {
        "ssh-user": "stack", "ssh-port": 2222, "identity-file": "~/.ssh/hv_key",
        "jump-host": "ops@bastion.example.com:2200", "known-hosts": "/etc/netpath/known_hosts",
        "sudo": True, "connect-timeout": 2.5, "command-timeout": 30, "concurrency": 25,
        "ovs-container": "openvswitch_vswitchd", "libvirt-container": "nova_libvirt",
        "container-runtime": "podman", "hosts": {"compute-1": "192.0.2.10"},
    })
    raw = cloud["netpath"]
    assert raw["ssh_port"] == "2222" and "compute_1" in raw["hosts"]  # what the loader does
    cfg = config.load(cloud)
    assert cfg.ssh_user == "stack"
    assert cfg.ssh_port == 2222
    assert cfg.identity_files == [str(Path("~/.ssh/hv_key").expanduser())]
    assert cfg.jump_host == "ops@bastion.example.com:2200"
    assert cfg.known_hosts == "/etc/netpath/known_hosts"
    assert cfg.sudo is True
    assert cfg.connect_timeout == 2.5 and cfg.command_timeout == 30.0
    assert cfg.concurrency == 25
    assert (cfg.ovs_container, cfg.libvirt_container, cfg.container_runtime) == (
        "openvswitch_vswitchd", "nova_libvirt", "podman")
    # the per-host map still finds "compute-1" although its key became "compute_1"
    assert config.target_for(cfg, "compute-1", None).address == "192.0.2.10"


def test_the_bare_mapping_is_accepted_too() -> None:
    cfg = config.load({"ssh_user": "root", "port": "22", "sudo": "no", "identity_files": ["a", "b"]})
    assert (cfg.ssh_user, cfg.ssh_port, cfg.sudo, cfg.identity_files) == ("root", 22, False,
                                                                         ["a", "b"])


@pytest.mark.parametrize("text,value", [("true", True), ("Yes", True), ("on", True), ("1", True),
                                        ("false", False), ("no", False), ("OFF", False),
                                        ("0", False)])
def test_booleans_from_strings(text: str, value: bool) -> None:
    assert config.load({"netpath": {"sudo": text}}).sudo is value


@pytest.mark.parametrize("netpath,needle", [
    ({"ssh_port": "abc"}, "ssh_port"),
    ({"ssh_port": "0"}, "1-65535"),
    ({"ssh_port": "70000"}, "1-65535"),
    ({"ssh_port": True}, "ssh_port"),
    ({"concurrency": "0"}, "concurrency"),
    ({"connect_timeout": "-1"}, "seconds"),
    ({"command_timeout": "soon"}, "seconds"),
    ({"sudo": "maybe"}, "true or false"),
    ({"ssh_user": "root; rm -rf /"}, "user name"),
    ({"jump_host": "a@b@c"}, "[user@]host[:port]"),
    ({"jump_host": "bastion:port"}, "[user@]host[:port]"),
    ({"address": "dns"}, "host_ip, host"),
    ({"address": "{host.__class__}"}, "{host}, {host_ip}, {short_host}"),
    ({"address": "{host!r}.example.com"}, "{host}, {host_ip}, {short_host}"),
    ({"address": "{host:>20}"}, "{host}, {host_ip}, {short_host}"),
    ({"address": "{user}.example.com"}, "{host}, {host_ip}, {short_host}"),
    ({"address": "{host"}, "malformed"),
    ({"hosts": {"hv1": "bad host;rm"}}, "not an IP address or host name"),
    ({"hosts": {"hv1": "fe80::1%eth0"}}, "not an IP address or host name"),
    ({"hosts": ["hv1"]}, "mapping"),
    ({"container_runtime": "lxc"}, "docker"),
    ({"ovs_container": "a b"}, "container name"),
    ({"identity_file": ""}, "non-empty"),
    ({"jump-hots": "x"}, "unknown setting"),
    ({"ssh-user": "a", "ssh_user": "b"}, "keep one"),
    ({"user": "a", "ssh_user": "b"}, "keep one"),
])
def test_bad_values_are_one_line_command_errors(netpath: dict[str, Any], needle: str) -> None:
    with pytest.raises(CommandError) as err:
        config.load({"netpath": netpath})
    message = str(err.value)
    assert needle in message
    assert "\n" not in message
    assert message.startswith("clouds.yaml netpath")


def test_netpath_must_be_a_mapping() -> None:
    with pytest.raises(CommandError, match="mapping"):
        config.load({"netpath": "ssh_user=root"})


@pytest.mark.parametrize("value", ["netpath-user", "ssh_user=root", 3, ["netpath", "x"], [],
                                   True, ""])
def test_a_netpath_value_that_is_no_mapping_is_one_line(tmp_path: Path, value: Any) -> None:
    """Through the real loader (it turns 3 into "3"), then both ways the plugin reads it: the
    cloud's configuration and the command's netpath_settings. Before, a string holding "netpath"
    was indexed by a string (TypeError), a number was searched (TypeError), and
    netpath_settings' dict() raised ValueError or swallowed [] and ""."""
    from types import SimpleNamespace

    from osc_netpath.cloud import session

    cloud = _via_clouds_yaml(tmp_path, value)  # type: ignore[arg-type]
    app = SimpleNamespace(client_manager=SimpleNamespace(get_configuration=lambda: cloud))
    for read in (lambda: config.load(cloud), lambda: config.load(cloud["netpath"]),
                 lambda: config.load(session.netpath_settings(app))):
        with pytest.raises(CommandError) as err:
            read()
        message = str(err.value)
        assert message.startswith("clouds.yaml netpath: want a mapping of settings")
        assert "\n" not in message and len(message) < 200


def test_netpath_settings_passes_a_mapping_through() -> None:
    from types import SimpleNamespace

    from osc_netpath.cloud import session

    for conf, want in (({"netpath": {"sudo": "yes"}}, {"sudo": "yes"}), ({}, {}),
                       ({"netpath": None}, {})):
        app = SimpleNamespace(client_manager=SimpleNamespace(get_configuration=lambda c=conf: c))
        assert session.netpath_settings(app) == want


# -- addresses -----------------------------------------------------------------------------


def test_host_ip_is_the_default() -> None:
    target = config.target_for(NetpathConfig(), "cmp1", "192.0.2.7")
    assert target.address == "192.0.2.7"


def test_host_ip_unknown_says_what_to_set() -> None:
    with pytest.raises(CommandError) as err:
        config.target_for(NetpathConfig(), "cmp1", None)
    message = str(err.value)
    assert "cmp1" in message and "netpath: address" in message
    assert "--host-address cmp1=ADDRESS" in message and "\n" not in message


def test_bad_host_ip_from_the_api_is_refused() -> None:
    with pytest.raises(CommandError, match="host_ip of cmp1"):
        config.target_for(NetpathConfig(), "cmp1", "192.0.2.7; reboot")


def test_host_mode_uses_the_nova_host_name() -> None:
    cfg = config.load({"netpath": {"address": "host"}})
    assert config.target_for(cfg, "cmp1.example.com", None).address == "cmp1.example.com"


@pytest.mark.parametrize("template,host,host_ip,expected", [
    ("{host}.mgmt.example.com", "cmp1", None, "cmp1.mgmt.example.com"),
    ("{short_host}-ipmi.example.com", "cmp1.example.com", None, "cmp1-ipmi.example.com"),
    ("{host_ip}", "cmp1", "2001:db8::7", "2001:db8::7"),
])
def test_templates(template: str, host: str, host_ip: str | None, expected: str) -> None:
    cfg = config.load({"netpath": {"address": template}})
    assert config.target_for(cfg, host, host_ip).address == expected


@pytest.mark.parametrize("host", ["cmp1;reboot", "cmp1 x", "-oProxyCommand=x", "a/b", ""])
def test_templates_never_interpolate_unvalidated_host_names(host: str) -> None:
    cfg = config.load({"netpath": {"address": "{host}.mgmt.example.com"}})
    with pytest.raises(CommandError):
        config.target_for(cfg, host, None)


def test_template_result_is_validated() -> None:
    cfg = config.load({"netpath": {"address": "{host}..example.com"}})
    with pytest.raises(CommandError, match="not an IP address or host name"):
        config.target_for(cfg, "cmp1", None)


def test_template_needing_host_ip_without_one() -> None:
    cfg = config.load({"netpath": {"address": "{host_ip}"}})
    with pytest.raises(CommandError, match="no host_ip"):
        config.target_for(cfg, "cmp1", None)


def test_per_host_map_wins_over_the_mode() -> None:
    cfg = config.load({"netpath": {"address": "{host}.mgmt.example.com",
                                   "hosts": {"cmp2": "192.0.2.20"}}})
    assert config.target_for(cfg, "cmp2", "198.51.100.2").address == "192.0.2.20"
    assert config.target_for(cfg, "cmp1", None).address == "cmp1.mgmt.example.com"


def test_target_carries_every_ssh_setting() -> None:
    cfg = config.load({"netpath": {
        "ssh_user": "ops", "ssh_port": "2200", "identity_file": "/k", "jump_host": "j:22",
        "known_hosts": "/kh", "connect_timeout": "3", "command_timeout": "9",
        "ssh_config": "false", "ssh_agent": "false",
    }})
    t = config.target_for(cfg, "cmp1", "192.0.2.1")
    assert (t.host, t.address, t.port, t.username, t.identity_files, t.jump_host,
            t.known_hosts, t.connect_timeout, t.command_timeout, t.use_ssh_config, t.agent) == (
        "cmp1", "192.0.2.1", 2200, "ops", ["/k"], "j:22", "/kh", 3.0, 9.0, False, False)
    # unset port/user stay None so ~/.ssh/config (Port, User) still applies
    d = config.target_for(NetpathConfig(), "cmp1", "192.0.2.1")
    assert d.port is None and d.username is None and d.use_ssh_config and d.agent


# -- CLI -----------------------------------------------------------------------------------


def test_cli_flags_override_clouds_yaml() -> None:
    base = config.load({"netpath": {"ssh_user": "stack", "sudo": True, "ssh_port": "22",
                                    "hosts": {"cmp1": "192.0.2.1", "cmp3": "192.0.2.3"}}})
    args = _parse("--ssh-user", "ops", "--no-sudo", "--ssh-port", "2200",
                  "--ssh-identity", "/k1", "--ssh-identity", "/k2", "--ssh-jump", "j@b:22",
                  "--known-hosts", "/kh", "--address", "{host}.x.example.com",
                  "--host-address", "cmp1=192.0.2.11", "--host-address", "cmp2=cmp2.example.com",
                  "--connect-timeout", "4", "--command-timeout", "40", "--concurrency", "3")
    cfg = config.apply_args(base, args)
    assert cfg.ssh_user == "ops" and cfg.sudo is False and cfg.ssh_port == 2200
    assert cfg.identity_files == ["/k1", "/k2"] and cfg.jump_host == "j@b:22"
    assert cfg.known_hosts == "/kh" and cfg.address == "{host}.x.example.com"
    assert cfg.hosts == {"cmp1": "192.0.2.11", "cmp2": "cmp2.example.com", "cmp3": "192.0.2.3"}
    assert (cfg.connect_timeout, cfg.command_timeout, cfg.concurrency) == (4.0, 40.0, 3)
    assert base.ssh_user == "stack"  # a copy: the loaded config is untouched


def test_no_flags_change_nothing() -> None:
    base = config.load({"netpath": {"ssh_user": "stack", "sudo": True}})
    assert config.apply_args(base, _parse()) == base
    assert config.apply_args(base, _parse("--sudo")).sudo is True


@pytest.mark.parametrize("argv,needle", [
    (["--ssh-port", "x"], "--ssh-port"),
    (["--concurrency", "0"], "--concurrency"),
    (["--host-address", "cmp1"], "HOST=ADDRESS"),
    (["--host-address", "cmp1=bad addr"], "--host-address cmp1"),
    (["--address", "{host.__init__}"], "--address"),
])
def test_bad_flags(argv: list[str], needle: str) -> None:
    with pytest.raises(CommandError) as err:
        config.apply_args(NetpathConfig(), _parse(*argv))
    assert needle in str(err.value)


def test_probe_options() -> None:
    assert config.probe_options(NetpathConfig()) == {"sudo": False}
    cfg = config.load({"netpath": {"sudo": "yes", "container_runtime": "docker",
                                   "ovs_container": "openvswitch_vswitchd"}})
    assert config.probe_options(cfg) == {"sudo": True, "runtime": "docker",
                                         "ovs_container": "openvswitch_vswitchd"}
