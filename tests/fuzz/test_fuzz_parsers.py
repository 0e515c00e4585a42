"""Every parser on damaged real outputs: a result, or ValueError/TypeError/KeyError (what the
probe's reader turns into a "could not parse" fact) — never anything else."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from osc_netpath.host.parsers import flows, iproute, libvirt, ovs
from tests.fuzz.conftest import examples
from tests.fuzz.mutate import OVSDB_VALUES, TEXT, dumps, json_lines, mutated_json, mutated_text
from tests.unit.probe_fixtures import read

PARSE_ERRORS = (ValueError, TypeError, KeyError)
OVS_DOCS = json_lines("ovs-vsctl.json")
FLOW_FILES = ["flows-br-ex-0.txt", "flows-br-int-0.txt", "flows-br-tun-10.txt",
              "flows-br-tun-22.txt", "flows-br-tun-4.txt"]
XML_FILES = ["dumpxml-instance-0000000a.xml", "dumpxml-instance-0000000b.xml"]


def outcome(parse, *args):
    """Run a parser: its result, or the parse error it is allowed to raise."""
    try:
        return parse(*args)
    except PARSE_ERRORS as exc:
        return exc


@examples(500)
@given(mutated_json(OVS_DOCS, OVSDB_VALUES, max_edits=6))
def test_ovs_vsctl_json_damaged_anywhere(docs):
    text = "\n".join(dumps(d) for d in docs) if isinstance(docs, list) else dumps(docs)
    outcome(ovs.parse_vsctl, text)


@examples(400)
@given(st.sampled_from(range(4)), st.data())
def test_ovs_vsctl_table_rows_and_headings(table, data):
    docs = json.loads(json.dumps(OVS_DOCS))
    doc = docs[table]
    op = data.draw(st.sampled_from(["row-not-list", "short-row", "headings", "data", "inf",
                                    "doc"]))
    if op == "row-not-list" and doc["data"]:
        doc["data"][0] = data.draw(OVSDB_VALUES)
    elif op == "short-row" and doc["data"]:
        doc["data"][0] = doc["data"][0][:-1]
    elif op == "headings":
        doc["headings"] = data.draw(st.one_of(OVSDB_VALUES, st.lists(TEXT, max_size=12)))
    elif op == "data":
        doc["data"] = data.draw(OVSDB_VALUES)
    elif op == "doc":
        docs[table] = data.draw(OVSDB_VALUES)
    lines = [json.dumps(d) for d in docs]
    if op == "inf":
        lines[table] = lines[table].replace("1500", "Infinity", 1).replace("65534", "NaN", 1)
    outcome(ovs.parse_vsctl, "\n".join(lines))


@examples(500)
@given(st.sampled_from(FLOW_FILES).flatmap(lambda f: mutated_text(read(f), max_edits=6)))
def test_dump_flows_damaged(text):
    outcome(flows.parse_flows, text, "br-int")


@examples(200)
@given(st.lists(st.one_of(TEXT, st.sampled_from(["table", "priority", "n_packets", "in_port",
                                                  "actions", "=", ",", " ", '"', "(", ")"])),
                max_size=30).map("".join))
def test_dump_flows_from_fragments(line):
    outcome(flows.parse_flows, f" cookie=0x1, table=0, {line}\n{line}", "br-x")


@examples(300)
@given(st.sampled_from(XML_FILES).flatmap(lambda f: mutated_text(read(f), max_edits=5)))
def test_libvirt_dumpxml_damaged(xml):
    outcome(libvirt.parse_domain, xml)
    outcome(libvirt.parse_domstate, xml)


@examples(60)
@given(st.sampled_from([
    '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><domain>&b;</domain>',
    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain>&x;</domain>',
    "<domain>" + "<a>" * 5000 + "</a>" * 5000 + "</domain>",
    "<domain><devices><interface><mtu size='9" + "9" * 5000 + "'/></interface></devices></domain>",
    "<domain><devices><interface><mtu size='²'/></interface></devices></domain>",
]), TEXT)
def test_libvirt_hostile_xml(xml, extra):
    outcome(libvirt.parse_domain, xml + extra)


IP_JSON = ["ip-link.json", "ip-link-qdhcp.json", "ip-addr.json", "ip-netns.json"]


@examples(300)
@given(st.sampled_from(IP_JSON).flatmap(
    lambda f: st.tuples(st.just(f), mutated_json(json.loads(read(f)), max_edits=5))))
def test_iproute_json_damaged(case):
    _, doc = case
    text = dumps(doc)
    links = outcome(iproute.parse_links, text)
    outcome(iproute.parse_netns, text)
    base = iproute.parse_links(read("ip-link.json"))
    outcome(iproute.merge_addresses, base, text)
    if isinstance(links, list):
        outcome(iproute.resolve_peers, links, {})


@examples(150)
@given(st.sampled_from(["probe-compute1.txt", "ethtool-S-qvb3a9c5e1f-7d.txt"]).flatmap(
    lambda f: mutated_text(read(f), max_edits=5)))
def test_iproute_text_parsers_damaged(text):
    outcome(iproute.parse_sysfs, text)
    outcome(iproute.parse_ethtool_peer, text)
    for name in ("parse_links_text", "parse_netns_text"):
        if hasattr(iproute, name):
            outcome(getattr(iproute, name), text)
