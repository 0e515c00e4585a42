"""libvirt parser on `virsh dumpxml` of domains defined in a real libvirtd (record.sh)."""
from __future__ import annotations

import pytest

from osc_netpath.host.facts import DomainInterface
from osc_netpath.host.parsers import libvirt
from tests.unit.probe_fixtures import FLAT, HYBRID, NATIVE, read


def test_hybrid_plug_and_libvirt_ovs_virtualport():
    dom = libvirt.parse_domain(read("dumpxml-instance-0000000a.xml"), "shut off")
    assert (dom.name, dom.uuid, dom.state) == (
        "instance-0000000a", "0f3c7a52-8b1e-4d6a-9c2f-5e4b3a291807", "shut off")
    assert dom.interfaces == [
        DomainInterface(type="bridge", mac="fa:16:3e:6d:01:ed", target_dev=f"tap{HYBRID}",
                        source_bridge=f"qbr{HYBRID}", model="virtio", mtu=1500),
        DomainInterface(type="bridge", mac="fa:16:3e:df:e9:f5", target_dev=f"tap{FLAT}",
                        source_bridge="br-int", model="virtio", mtu=1500,
                        virtualport_type="openvswitch",
                        interface_id="5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"),
    ]


def test_ethernet_interface_plugged_by_os_vif():
    dom = libvirt.parse_domain(read("dumpxml-instance-0000000b.xml"))
    assert dom.state is None
    assert dom.interfaces == [
        DomainInterface(type="ethernet", mac="fa:16:3e:49:1b:4c", target_dev=f"tap{NATIVE}",
                        model="virtio", mtu=1450),
    ]


def test_domstate():
    assert libvirt.parse_domstate(read("domstate-instance-0000000a.txt")) == "shut off"
    assert libvirt.parse_domstate("\n") is None


def test_entities_are_refused():
    # The XML carries tenant-chosen text; a document declaring entities is not parsed at all.
    evil = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            "<domain><name>&b;</name></domain>")
    with pytest.raises(ValueError):  # defusedxml's EntitiesForbidden is a ValueError
        libvirt.parse_domain(evil)


def test_not_a_domain():
    with pytest.raises(ValueError, match="expected <domain>"):
        libvirt.parse_domain("<network/>")


@pytest.mark.parametrize("size", ["²", "9" * 5000, "-1", "1e3", ""])
def test_an_mtu_that_is_no_plain_number_is_unknown(size):
    # "²".isdigit() is True and int() refuses it; 5000 digits exceed int()'s limit: both raised
    # and the whole domain was lost
    xml = read("dumpxml-instance-0000000b.xml").replace("<mtu size='1450'/>",
                                                        f"<mtu size='{size}'/>")
    assert size in xml
    dom = libvirt.parse_domain(xml)
    assert dom.interfaces[0].mtu is None and dom.interfaces[0].mac == "fa:16:3e:49:1b:4c"
