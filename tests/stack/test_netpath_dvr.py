"""`netpath show vm1 --to external` on a real DVR router (NPSTACK_L3=dvr): an L3 agent in
agent_mode dvr on each compute, network1 in dvr_snat, l2population on every agent.

router1 is distributed: its interface on tenant-vx is in ``qrouter-`` on every compute with a
port there (vm1's compute1 among them), joined by the veth ``rfp-`` ⇄ ``fpr-`` to
``fip-<external>`` where ``fg-`` leaves for vm1's floating IP (whose NAT the compute's L3 agent
writes in its ``qrouter-``); the SNAT port ``sg-`` and the gateway ``qg-`` are in ``snat-`` on
network1. Every hop is compared with what the hosts have (groundtruth.read_agent_port on the
host named), the veth and the NAT rules read inside the namespaces. ``netpath audit`` of the
DVR fleet: clean, then a snat- left on a compute is its one finding."""

from __future__ import annotations

import re

import pytest

from tests.stack import groundtruth

NODE, COMPUTE = "network1", "compute1"


Out = groundtruth.CliRun


@pytest.fixture(scope="module")
def dvr(dvr_stack) -> dict:
    spec = dvr_stack.state.get("router") or {}
    assert spec.get("mode") == "dvr", spec
    net = dvr_stack.connection().network
    router = net.find_router(spec["name"], ignore_missing=False)
    routed = net.find_network(spec["routed"], ignore_missing=False)
    ext = net.find_network(spec["external"], ignore_missing=False)
    label, on = spec["floating_ip_on"]
    vm_port = next(p for p in dvr_stack.servers[label]["ports"] if p["network"] == on)
    (fip,) = list(net.ips(port_id=vm_port["id"]))

    def one(owner: str, **query) -> dict:
        (p,) = list(net.ports(device_owner=owner, **query))
        return {"id": p.id, "mac": p.mac_address, "host": p.binding_host_id}

    return {
        "router": router, "routed": routed.id, "external": ext.id, "fip": fip.floating_ip_address,
        "fixed": fip.fixed_ip_address, "vm_port": vm_port["id"],
        "qr": one("network:router_interface_distributed", device_id=router.id),
        "sg": one("network:router_centralized_snat", device_id=router.id),
        "qg": one("network:router_gateway", device_id=router.id),
        "fg": one("network:floatingip_agent_gateway", binding_host_id=COMPUTE,
                  network_id=ext.id),
    }


def test_dvr_router_and_its_namespaces(dvr_stack, dvr):
    """Neutron's word and the hosts': router1 distributed, an L3 agent per compute in dvr mode
    and network1's in dvr_snat; qrouter- on both computes, fip- on vm1's compute1, snat- on
    network1; the SNAT and gateway ports bound to network1, fg- to compute1."""
    assert dvr["router"].is_distributed is True
    agents = {a.host: a for a in dvr_stack.connection().network.agents(agent_type="L3 agent")}
    assert {h: a.configuration["agent_mode"] for h, a in agents.items()} == {
        "compute1": "dvr", "compute2": "dvr", NODE: "dvr_snat"}
    assert all(a.is_alive for a in agents.values())
    rid, ext = dvr["router"].id, dvr["external"]
    have = {h: set(groundtruth.host_namespaces(host)) for h, host in dvr_stack.hosts.items()}
    assert {f"qrouter-{rid}", f"fip-{ext}"} <= have[COMPUTE]
    assert f"qrouter-{rid}" in have["compute2"]
    assert {f"snat-{rid}", f"qdhcp-{dvr['routed']}"} <= have[NODE]
    assert (dvr["sg"]["host"], dvr["qg"]["host"], dvr["fg"]["host"]) == (NODE, NODE, COMPUTE)


def test_show_to_external_matches_the_hosts(dvr_stack, dvr):
    """vm1's ports, then the distributed qr- in qrouter- on compute1 (with rfp- ⇄ fpr- into
    fip- and the floating IP's NAT as the host has them), sg- and qg- in snat- on network1, fg-
    in fip- on compute1: hop for hop as the hosts have them; no finding."""
    out = Out(dvr_stack.openstack("netpath", "show", dvr_stack.servers["vm1"]["id"], "--to",
                                  "external", "-f", "json", check=False))
    assert out.rc == 0, out.stderr
    state = dvr_stack.state
    vm = groundtruth.read_server(state, "vm1")
    rid, ext = dvr["router"].id, dvr["external"]
    truths = {
        "qr": groundtruth.read_agent_port(state, dvr["qr"]["id"], on=COMPUTE),
        "sg": groundtruth.read_agent_port(state, dvr["sg"]["id"], on=NODE),
        "qg": groundtruth.read_agent_port(state, dvr["qg"]["id"], on=NODE),
        "fg": groundtruth.read_agent_port(state, dvr["fg"]["id"], on=COMPUTE),
    }
    assert {k: t.namespace for k, t in truths.items()} == {
        "qr": f"qrouter-{rid}", "sg": f"snat-{rid}", "qg": f"snat-{rid}", "fg": f"fip-{ext}"}
    want = vm.hops() + [row for t in truths.values() for row in t.hops()]
    assert groundtruth.compare(out.rows, want) == []
    assert len(out.rows) == len(want)
    assert {r["Port"] for r in out.rows} == {p.port_id for p in vm.ports} | {
        dvr[k]["id"] for k in truths}
    # the veth between the router and the floating IP namespace, read inside both
    rfp, fpr = f"rfp-{rid[:10]}", f"fpr-{rid[:10]}"  # as the host has them: 14 characters
    host = dvr_stack.hosts[COMPUTE]
    assert groundtruth.namespace_devices(host, f"qrouter-{rid}")[rfp].kind == "veth"
    assert groundtruth.namespace_devices(host, f"fip-{ext}")[fpr].kind == "veth"
    head = next(r for r in out.rows if r["Port"] == dvr["qr"]["id"])
    assert f"{rfp} ⇄ {fpr} in fip-{ext}" in head["Detail"]
    rules = groundtruth.nat_rules(host, f"qrouter-{rid}")
    dnat = re.search(rf"-d {re.escape(dvr['fip'])}/32 .*-j DNAT --to-destination (\S+)", rules)
    snat = re.search(rf"-s {re.escape(dvr['fixed'])}/32 .*-j SNAT --to-source (\S+)", rules)
    assert dnat and snat and (dnat.group(1), snat.group(1)) == (dvr["fixed"], dvr["fip"])
    assert f"NAT DNAT {dvr['fip']} → {dvr['fixed']}, SNAT {dvr['fixed']} → {dvr['fip']}" \
        in head["Detail"]
    assert out.warnings == []


def test_fip_veth_deleted(dvr_stack, dvr):
    """The rfp- veth deleted inside compute1's qrouter- (its fpr- end goes with it): --to
    external says the floating IP does not leave from compute1, and nothing else. Undone by
    restarting compute1's L3 agent, which joins the router to fip- again."""
    rid, ext = dvr["router"].id, dvr["external"]
    host = dvr_stack.hosts[COMPUTE]
    rfp, fpr = f"rfp-{rid[:10]}", f"fpr-{rid[:10]}"
    groundtruth.host_run(host, ["ip", "-n", f"qrouter-{rid}", "link", "del", rfp])
    try:
        assert rfp not in groundtruth.namespace_devices(host, f"qrouter-{rid}")
        assert fpr not in groundtruth.namespace_devices(host, f"fip-{ext}")
        out = Out(dvr_stack.openstack("netpath", "show", dvr_stack.servers["vm1"]["id"], "--to",
                                      "external", "-f", "json", check=False))
        assert out.rc == 0, out.stderr
        assert out.warnings == [(
            f"port {dvr['qr']['id'][:11]}: no {rfp} in qrouter-{rid} on {COMPUTE}: the L3 agent "
            "(dvr) has not joined this router to its fip- namespace, the floating IPs "
            f"{dvr['fip']} → {dvr['fixed']} (ACTIVE) do not leave from here")]
    finally:
        groundtruth.restart_agent(host, "l3")
        groundtruth.wait_until(
            f"{rfp} back in qrouter-{rid}",
            lambda: rfp in groundtruth.namespace_devices(host, f"qrouter-{rid}"), 120)


def _audit(dvr_stack) -> list[dict]:
    out = Out(dvr_stack.openstack("netpath", "audit", "-f", "json", check=False, timeout=180))
    assert out.rc in (0, 1), out.stderr
    return out.rows


def test_audit_of_the_dvr_fleet_then_a_snat_namespace_left_behind(dvr_stack, dvr):
    """The real DVR fleet audits clean: each compute's qrouter- is due to its VM on tenant-vx
    (router1's interfaces are bound nowhere), fip- to the host's fg- port, network1's
    qrouter-/snat- to the gateway and SNAT ports. Then a snat- of router1 on compute1, where
    neither is bound (what a former SNAT node keeps when router1's SNAT moved away while its
    agent was down): a namespace-leftover there, nothing else."""
    assert _audit(dvr_stack) == []
    rid, host = dvr["router"].id, dvr_stack.hosts[COMPUTE]
    assert (dvr["sg"]["host"], dvr["qg"]["host"]) == (NODE, NODE)
    groundtruth.host_run(host, ["ip", "netns", "add", f"snat-{rid}"])
    try:
        rows = _audit(dvr_stack)
    finally:
        groundtruth.host_run(host, ["ip", "netns", "delete", f"snat-{rid}"])
    assert [(r["Host"], r["Class"], r["Seen"], r["Expected"]) for r in rows] == [
        (COMPUTE, "namespace-leftover", f"namespace snat-{rid}",
         f"none: no port of router {rid} bound to {COMPUTE} puts it here")]
