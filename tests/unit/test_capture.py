"""Capture bundles: loading checked against the schema, secrets blanked on the parsed OVS output,
safe writes."""
from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from osc_netpath import capture, serial
from osc_netpath.cloud.facts import CloudFacts
from osc_netpath.host import probe, redact
from tests.unit.probe_fixtures import read


def demo_data() -> dict[str, Any]:
    return json.loads(capture.dump(capture.load(capture.DEMO)))


def write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def load_error(tmp_path: Path, data: Any) -> str:
    where = write(tmp_path, data)
    with pytest.raises(capture.CaptureError) as err:
        capture.load(where)
    message = str(err.value)
    assert where in message and "\n" not in message
    return message


# ------------------------------------------------------------------------------ loading


def test_the_demo_loads_and_round_trips():
    bundle = capture.load(capture.DEMO)
    assert len(bundle.traces) >= 4
    again = capture.parse("again", capture.dump(bundle).encode())
    assert again == bundle


@pytest.mark.parametrize("edit,where,problem", [
    (lambda d: d["traces"][0]["cloud"]["ports"][1].update(mac_address=3),
     "traces[0].cloud.ports[1].mac_address", "expected a string, got 3"),
    (lambda d: d["traces"][0]["cloud"].update(server=None),
     "traces[0].cloud.server", "expected an object, got null"),
    (lambda d: d["traces"][1]["cloud"]["server"].pop("id"),
     "traces[1].cloud.server.id", "missing"),
    (lambda d: d["traces"][0]["cloud"].update(ports={"a": 1}),
     "traces[0].cloud.ports", "expected a list, got an object"),
    (lambda d: d["traces"][0]["cloud"]["networks"].update(
        x={"id": "x", "name": "x", "mtu": "9000"}),
     "traces[0].cloud.networks.x.mtu", 'expected an integer, got "9000"'),
    (lambda d: d["traces"][0]["cloud"]["ports"][0].update(admin_state_up=1),
     "traces[0].cloud.ports[0].admin_state_up", "expected true or false, got 1"),
    (lambda d: d["traces"][0]["cloud"]["server"].update(power_state=True),
     "traces[0].cloud.server.power_state", "expected an integer, got true"),
    (lambda d: d["traces"][0]["cloud"]["server"].update(power_state=2**70),
     "traces[0].cloud.server.power_state", "number out of range"),
    (lambda d: d["traces"][0]["probes"].update(compute1=None),
     "traces[0].probes.compute1", "expected a string, got null"),
    (lambda d: d["traces"][0]["cloud"]["ports"][0].update(binding_vif_details=[1]),
     "traces[0].cloud.ports[0].binding_vif_details", "expected an object, got a list"),
    (lambda d: d["traces"][0]["cloud"]["ports"][0]["binding_vif_details"].update(
        deep=json.loads("[" * 40 + "]" * 40)),
     "traces[0].cloud.ports[0].binding_vif_details.deep", "nested more than 32 levels"),
    (lambda d: d.update(traces={"x": 1}), "traces", "expected a list, got an object"),
    (lambda d: d.update(recorded_from=["lab"]), "recorded_from", "expected a string, got a list"),
])
def test_a_damaged_field_is_named_with_its_path(tmp_path, edit, where, problem):
    data = demo_data()
    edit(data)
    message = load_error(tmp_path, data)
    assert "damaged netpath capture" in message
    assert f"{where}: {problem}" in message


@pytest.mark.parametrize("text,problem", [
    (b'{"format": "osc-netpath-capture", "version": 1, "recorded_from": "caf\xe9"}',
     "not UTF-8 text: byte 69"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": "osc-netpath-capture", "version": 1, "x": NaN}', "NaN is not a JSON number"),
    (b'{"format": "osc-netpath-capture", "version": 1, "x": -Infinity}',
     "-Infinity is not a JSON number"),
    (b'{"format": "osc-netpath-capture", "version": 1, "x": ' + b"9" * 5000 + b"}",
     "an integer of 5000 digits"),
    (b'"osc-netpath-capture"', "no format: osc-netpath-capture"),
    (b"[]", "no format"),
    (b'{"format": "osc-netpath-capture", "version": "1"}', 'capture version "1"'),
    (b'{"format": "osc-netpath-capture", "version": true}', "capture version true"),
])
def test_broken_files_are_one_clear_error(tmp_path, text, problem):
    path = tmp_path / "c.json"
    path.write_bytes(text)
    with pytest.raises(capture.CaptureError) as err:
        capture.load(str(path))
    assert problem in str(err.value) and str(path) in str(err.value)


def test_unknown_keys_are_ignored_for_newer_writers(tmp_path):
    data = demo_data()
    data["traces"][0]["cloud"]["server"]["added_later"] = {"x": 1}
    assert capture.load(write(tmp_path, data)) == capture.load(capture.DEMO)


def test_every_field_type_of_the_bundle_has_a_json_form():
    """A field type the schema cannot check would fail on a user's load; caught here instead."""
    serial.check_schema(capture.Bundle)
    empty = serial.from_data(CloudFacts, {"server": {"id": "i", "name": "n", "status": "ACTIVE"}})
    assert serial.from_data(capture.Bundle, serial.to_data(capture.Bundle(
        traces=[capture.Trace(cloud=empty)]))).traces[0].cloud == empty
    for unsupported in (complex, int | str, dict[int, str], tuple[str, int], list):
        with pytest.raises(TypeError):
            serial.check_schema(unsupported)
    with pytest.raises(TypeError):
        serial.from_data(complex, 1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ redaction

PSK = 'se"cr,et]\\'  # a quote, a comma, a bracket and a backslash: JSON escapes in the file
ovs_line = next(line for line in read("probe-compute1.txt").splitlines()
                if '"vxlan-0a000002","vxlan"' in line)


def secret_probe() -> str:
    """The recorded probe of compute-1 with an IPsec psk on a tunnel, a password in a port's
    other_config and a secret in Open_vSwitch external_ids."""
    text = read("probe-compute1.txt")
    psk = json.dumps(PSK)
    text = text.replace('["remote_ip","10.0.0.2"]]]', f'["psk",{psk}],["remote_ip","10.0.0.2"]]]')
    text = text.replace('["physical_network","physnet1"],["segmentation_id","101"],["tag","3"]',
                        '["physical_network","physnet1"],["Db_Password","pw-1"],'
                        '["segmentation_id","101"],["tag","3"]', 1)
    text = text.replace('["rundir","/var/run/openvswitch"]',
                        '["ovn-ipsec-Secret","s3"],["rundir","/var/run/openvswitch"]')
    assert text.count(psk) == 1 and "pw-1" in text and '"s3"' in text
    return text


def record(tmp_path: Path, out: str) -> tuple[str, capture.Trace]:
    trace = capture.load(capture.DEMO).traces[0]
    trace.probes = {"compute1": out}
    path = tmp_path / "rec.json"
    capture.save(capture.Bundle(traces=[trace]), str(path))
    return path.read_text(), capture.load(str(path)).traces[0]


def test_secrets_are_blanked_in_the_parsed_ovs_output(tmp_path):
    out = secret_probe()
    text, saved = record(tmp_path, out)
    assert "pw-1" not in text and "s3" not in text and json.dumps(PSK)[1:-1] not in text
    assert "se" + '\\\\"cr' not in text  # the psk escaped once more inside the capture file
    live, again = (probe.parse_output("compute1", o) for o in (out, saved.probes["compute1"]))
    assert live.ovs is not None and again.ovs is not None
    assert again.ovs.interfaces["vxlan-0a000002"].options["psk"] == "<redacted>"
    assert again.ovs.ports["qvo3a9c5e1f-7d"].other_config["Db_Password"] == "<redacted>"
    assert again.ovs.external_ids["ovn-ipsec-Secret"] == "<redacted>"
    live.ovs.interfaces["vxlan-0a000002"].options["psk"] = "<redacted>"
    live.ovs.ports["qvo3a9c5e1f-7d"].other_config["Db_Password"] = "<redacted>"
    live.ovs.external_ids["ovn-ipsec-Secret"] = "<redacted>"
    assert again == live  # every other fact as read live


def test_only_the_lines_with_a_secret_change():
    out = secret_probe()
    clean = redact.redact(out)
    assert clean.dropped is None
    before, after = out.splitlines(), clean.text.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after) and len(changed) == 3
    assert all(after[i].startswith('{"data":') for i in changed)
    assert redact.redact(read("probe-compute1.txt")).text == read("probe-compute1.txt")
    assert redact.redact(clean.text).text == clean.text


def test_an_ovs_section_that_does_not_parse_is_left_out_and_said(tmp_path):
    out = secret_probe()
    cut = out[:out.index('["psk"') + 12]  # the probe killed in the middle of the Interface table
    text, saved = record(tmp_path, cut)
    assert "se\\" not in text and "pw-1" not in text
    sections, _ = probe.split_sections(saved.probes["compute1"])
    assert sections["ovs-vsctl"].stdout == "" and sections["ip-link"] == \
        probe.split_sections(cut)[0]["ip-link"]
    (note,) = [n for n in saved.cloud.notes if "ovs-vsctl" in n]
    assert note.startswith("compute1: the ovs-vsctl output was left out: it is not JSON")
    assert "secrets could not be blanked" in note


def test_deeply_nested_ovs_json_is_left_out_not_a_crash():
    out = read("probe-compute1.txt").replace(ovs_line, "[" * 100_000 + "]" * 100_000)
    clean = redact.redact(out)
    assert clean.dropped and "nested too deeply" in clean.dropped
    assert "[[[" not in clean.text


def test_output_without_an_ovs_section_is_kept_as_it_is():
    for name in ("probe-notools.txt", "probe-nonroot.txt"):
        assert redact.redact(read(name)) == redact.Redacted(read(name))
    assert redact.redact("") == redact.Redacted("")


# ------------------------------------------------------------------------------ writing


def small_bundle() -> capture.Bundle:
    return capture.Bundle(traces=[capture.load(capture.DEMO).traces[0]], recorded_from="t")


def test_a_new_capture_is_0600_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "c.json"
    old = os.umask(0)
    try:
        capture.save(small_bundle(), str(path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["c.json"]


def test_an_existing_0644_capture_becomes_0600(tmp_path):
    path = tmp_path / "c.json"
    capture.save(small_bundle(), str(path))
    path.chmod(0o644)
    capture.check_writable(str(path))
    capture.save(small_bundle(), str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_planted_temporary_name_is_not_used(tmp_path):
    """The old code wrote to PATH.tmp: a symlink planted there redirected the write."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "c.json.tmp").symlink_to(victim)
    capture.save(small_bundle(), str(tmp_path / "c.json"))
    assert victim.read_text() == "precious"
    assert capture.load(str(tmp_path / "c.json")).recorded_from == "t"


def test_a_symlinked_target_is_refused(tmp_path):
    victim = tmp_path / "victim.json"
    capture.save(small_bundle(), str(victim))
    before = victim.read_bytes()
    link = tmp_path / "c.json"
    link.symlink_to(victim)
    for step in (capture.check_writable, lambda p: capture.save(small_bundle(), p)):
        with pytest.raises(capture.CaptureError, match="symbolic link"):
            step(str(link))
    assert victim.read_bytes() == before and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["c.json", "victim.json"]


def test_a_target_that_is_not_a_file_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(capture.CaptureError, match="not a regular file"):
        capture.check_writable(str(tmp_path / "d"))


def test_adding_to_a_capture_keeps_the_other_servers(tmp_path):
    path = str(tmp_path / "c.json")
    demo = capture.load(capture.DEMO)
    capture.save(capture.Bundle(traces=demo.traces[:2]), path)
    changed = copy.deepcopy(demo.traces[1])
    changed.cloud.notes.append("again")
    capture.save(capture.Bundle(traces=[changed]), path)
    saved = capture.load(path).traces
    assert [t.cloud.server.id for t in saved] == [demo.traces[0].cloud.server.id,
                                                  changed.cloud.server.id]
    assert saved[1].cloud.notes[-1] == "again"
