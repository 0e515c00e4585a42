"""`openstack netpath audit`: kept tiny; everything heavy is imported in take_action."""
from __future__ import annotations

import argparse
from typing import Any

from osc_lib.command import command

COLUMNS = ("Host", "Port", "Network", "Class", "Severity", "Seen", "Expected")
SUMMARY = ("host", "expected", "found", "orphans", "errors", "warnings")


class AuditNetpath(command.Lister):
    """Check every host's dataplane against Neutron: one row per finding. Exit 0 when clean,
    1 on error-class findings or a host not probed (--strict: warnings too)."""

    auth_required = False  # --capture needs no cloud

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        from osc_netpath import config

        parser = super().get_parser(prog_name)
        parser.add_argument("--host", metavar="<host>", action="append", default=[],
                            help="Audit this host (repeatable); default: every L2-agent host")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--zone", metavar="<zone>", help="The hosts of an availability zone")
        scope.add_argument("--aggregate", metavar="<aggregate>",
                           help="The hosts of a host aggregate (name or ID)")
        parser.add_argument("--network", metavar="<network-id>",
                            help="Only this network's ports (and the hosts they are bound to)")
        parser.add_argument("--project", metavar="<project-id>", help="Only this project's ports")
        parser.add_argument("--strict", action="store_true",
                            help="Warnings (orphans, MTU drift…) fail the run too")
        parser.add_argument("--capture", metavar="<file>",
                            help="Audit a capture file instead of the cloud ('demo': built in)")
        parser.add_argument("--record", metavar="<file>",
                            help="Also save the API facts and probe outputs to a capture file")
        config.add_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        from osc_lib import exceptions

        from osc_netpath import capture
        from osc_netpath.audit import checks, run

        def live() -> tuple[Any, capture.Trace]:
            recorded = self._live(parsed_args)
            return recorded, recorded

        try:
            trace = capture.run_or_replay(parsed_args.capture, parsed_args.record, run.merged,
                                          live)
        except capture.CaptureError as exc:
            raise exceptions.CommandError(str(exc)) from None
        findings: list[checks.Finding] = []
        self._summaries = []
        for found, summary in run.audit_trace(trace):
            findings += found
            self._summaries.append(summary)
        self._notes = list(trace.cloud.notes)
        self._exit = checks.exit_status(findings, parsed_args.strict)
        rows = [(f.host, f.port, f.network, f.cls, f.severity, f.seen, f.expected)
                for f in findings]
        return COLUMNS, rows

    def _live(self, parsed_args: argparse.Namespace) -> Any:
        from osc_netpath import config
        from osc_netpath.audit import run
        from osc_netpath.cloud import fleet, session

        cfg = config.apply_args(config.load(session.netpath_settings(self.app)), parsed_args)
        conn = session.sdk_connection(self.app)
        hosts = list(parsed_args.host)
        if parsed_args.zone or parsed_args.aggregate:
            hosts += fleet.aggregate_hosts(conn, parsed_args.aggregate, parsed_args.zone)
        scope = run.Scope(hosts=hosts, network=parsed_args.network, project=parsed_args.project)
        if self.app.stderr.isatty():
            self.app.stderr.write("netpath audit: probing hosts…\r")
        trace, _ = run.live(conn, scope, cfg)
        return trace

    def run(self, parsed_args: argparse.Namespace) -> int:
        super().run(parsed_args)
        self.app.stdout.flush()
        err = self.app.stderr
        for note in self._notes:
            err.write(f"note: {note}\n")
        if parsed_args.formatter == "table":  # a person reads it: the per-host summary
            for s in self._summaries:
                state = "" if s.probed else " (not probed)"
                err.write(f"{s.host}: {s.expected} expected, {s.found} found, {s.orphans} "
                          f"orphans, {s.errors} errors, {s.warnings} warnings{state}\n")
        return self._exit
