"""``iptables-save -t nat`` of a router namespace -> the floating IP and gateway NAT rules.

The L3 agent writes, per floating IP (legacy in ``qrouter-``; DVR in the compute's ``qrouter-``,
with ``-i rfp-…``)::

    -A neutron-l3-agent-PREROUTING -d 203.0.113.9/32 [-i rfp-…] -j DNAT --to-destination 10.0.0.5
    -A neutron-l3-agent-float-snat -s 10.0.0.5/32 -j SNAT --to-source 203.0.113.9 [--random-fully]

and the router's default SNAT on its gateway (``-o qg-… -j SNAT --to-source <gateway IP>``).
Only ``-A`` rules with a NAT target are read; anything else is skipped.
"""
from __future__ import annotations

import shlex

from osc_netpath.host.facts import NatRules


def parse_nat(text: str) -> NatRules:
    rules = NatRules()
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:  # an unbalanced quote in a comment: not a rule we read
            continue
        opts = _options(words)
        target = opts.get("-j")
        if target == "DNAT" and "--to-destination" in opts and "-d" in opts:
            rules.dnat.setdefault(_host(opts["-d"]), _host(opts["--to-destination"]))
        elif target == "SNAT" and "--to-source" in opts:
            if "-s" in opts:
                rules.snat.setdefault(_host(opts["-s"]), _host(opts["--to-source"]))
            elif opts.get("-o", "").startswith("qg-"):
                rules.gateway_snat.append(_host(opts["--to-source"]))
    return rules


def _options(words: list[str]) -> dict[str, str]:
    """``-d X -j DNAT --to-destination Y`` -> {"-d": X, …}: each option's first value; a
    negated match (``! -o qg-…``) is not the value it names, so it is left out."""
    out: dict[str, str] = {}
    for i, word in enumerate(words[:-1]):
        negated = i > 0 and words[i - 1] == "!"
        if word.startswith("-") and not words[i + 1].startswith("-") and not negated:
            out.setdefault(word, words[i + 1])
    return out


def _host(value: str) -> str:
    """``203.0.113.9/32`` -> ``203.0.113.9``; ``10.0.0.5:80`` stays as written."""
    return value.removesuffix("/32")
