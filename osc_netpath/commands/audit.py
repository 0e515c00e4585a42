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
        parser.add_argument("--network", metavar="<network>",
                            help="Only this network's ports (name or ID), on the hosts they "
                                 "are bound to")
        parser.add_argument("--project", metavar="<project>",
                            help="Only this project's ports (name or ID)")
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

        try:
            report = capture.run_or_replay(
                parsed_args.capture, parsed_args.record,
                lambda bundle: run.report_of(run.merged(bundle)),
                lambda: self._live(parsed_args))
        except capture.CaptureError as exc:
            raise exceptions.CommandError(str(exc)) from None
        self._report = report
        self._exit = 130 if report.interrupted else checks.exit_status(report.findings,
                                                                        parsed_args.strict)
        rows = [(f.host, f.port, f.network, f.cls, f.severity, f.seen, f.expected)
                for f in report.findings]
        return COLUMNS, rows

    def _live(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        from osc_lib import exceptions

        from osc_netpath import config
        from osc_netpath.audit import run
        from osc_netpath.cloud import fleet, session

        cfg = config.apply_args(config.load(session.netpath_settings(self.app)), parsed_args)
        conn = session.sdk_connection(self.app)
        hosts = list(parsed_args.host)
        if not all(hosts):  # binding:host_id="" would list the unbound ports
            raise exceptions.CommandError("--host needs a host name.")
        if parsed_args.zone is not None or parsed_args.aggregate is not None:
            hosts += fleet.aggregate_hosts(conn, parsed_args.aggregate, parsed_args.zone)
        scope = run.Scope(hosts=hosts, network=parsed_args.network, project=parsed_args.project)
        err = self.app.stderr
        progress = None
        if err.isatty():  # a person watches: one line, rewritten as hosts answer
            def progress(done: int, total: int, failed: int) -> None:
                bad = f", {failed} not probed" if failed else ""
                err.write(f"\rnetpath audit: {done}/{total} hosts probed{bad}\x1b[K")
                err.flush()
        try:
            report, trace, _ = run.live(conn, scope, cfg, keep_outputs=bool(parsed_args.record),
                                        progress=progress)
        finally:
            if progress is not None:
                err.write("\r\x1b[K")
        return report, trace

    def run(self, parsed_args: argparse.Namespace) -> int:
        super().run(parsed_args)
        self.app.stdout.flush()
        err = self.app.stderr
        report = self._report
        for note in report.notes:
            err.write(f"note: {note}\n")
        if report.interrupted:
            err.write("netpath audit: interrupted (Ctrl-C): the hosts that had answered are "
                      "shown, the others are host-unprobed\n")
        if parsed_args.formatter == "table":  # a person reads it: the per-host summary
            for s in report.summaries:
                state = "" if s.probed else " (not probed)"
                took = f", probe {s.seconds:.1f}s" if s.seconds is not None else ""
                err.write(f"{s.host}: {s.expected} expected, {s.found} found, {s.orphans} "
                          f"orphans, {s.errors} errors, {s.warnings} warnings{took}{state}\n")
            if len(report.summaries) > 1:  # a fleet's lines scroll by: the sum last
                err.write(totals(report.summaries) + "\n")
        return self._exit


def totals(summaries: list[Any]) -> str:
    """One line for the whole run: hosts (not probed), ports, findings by severity."""
    unprobed = sum(not s.probed for s in summaries)
    left = f" ({unprobed} not probed)" if unprobed else ""
    count = {k: sum(getattr(s, k) for s in summaries)
             for k in ("expected", "found", "orphans", "errors", "warnings")}
    return (f"total: {len(summaries)} hosts{left}, {count['expected']} expected, "
            f"{count['found']} found, {count['orphans']} orphans, {count['errors']} errors, "
            f"{count['warnings']} warnings")
