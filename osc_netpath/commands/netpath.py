"""`openstack netpath …` commands. Imports stay inside methods: OSC loads this on every run."""
from __future__ import annotations

import argparse
from typing import Any

from osc_lib.command import command


def _capture_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--diagram, --capture, --record and --strict: the same on every netpath command."""
    parser.add_argument("--diagram", action="store_true",
                        help=f"Draw {what} as a diagram instead of a table")
    parser.add_argument(
        "--capture", metavar="<file>",
        help="Replay a capture file instead of asking the cloud ('demo': the built-in "
             "demo capture)",
    )
    parser.add_argument(
        "--record", metavar="<file>",
        help="Also save what this run learnt (API facts and probe output) to a capture file",
    )
    parser.add_argument(
        "--strict", action="store_true",
        help="Exit non-zero when there are findings (missing devices, dead VLAN, VLAN "
             "mismatch, namespace missing, …)",
    )


class _PathLister(command.Lister):
    """What both path commands share: capture/record, the formatters, the diagram, findings."""

    # Replaying a capture needs no cloud; live runs authenticate in take_action.
    auth_required = False
    subject = "server"  # the positional argument: what is traced

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        from osc_netpath import config

        parser = super().get_parser(prog_name)
        self._subject_arguments(parser)
        _capture_arguments(parser, "the path")
        config.add_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        from osc_lib import exceptions

        from osc_netpath import capture, trace
        from osc_netpath.render import rows

        def live() -> tuple[Any, capture.Trace]:
            outcome = self._live(parsed_args)
            return outcome.path, outcome.trace

        try:
            path = capture.run_or_replay(
                parsed_args.capture, parsed_args.record,
                lambda bundle: trace.replay(capture.find(
                    bundle, self._ref(parsed_args), subject=self.subject,
                    to=getattr(parsed_args, "to", None))),
                live)
        except capture.CaptureError as exc:
            raise exceptions.CommandError(str(exc)) from None
        self._path = path
        self._findings = findings = rows.problems(path)
        self._exit = 1 if (parsed_args.strict and findings) or self._host_failed(path) else 0
        data: list[tuple[Any, ...]] = rows.rows(path)
        if parsed_args.formatter == "table":  # as in device names; blanks rather than None
            data = [(str(r[0])[:11],) + tuple("" if v is None else v for v in r[1:]) for r in data]
        return rows.COLUMNS, data

    def _live(self, parsed_args: argparse.Namespace) -> Any:
        from osc_netpath import config, trace
        from osc_netpath.cloud import session

        # settings and flags first: a bad flag is the user's first problem, not auth
        cfg = config.apply_args(config.load(session.netpath_settings(self.app)), parsed_args)
        conn = session.sdk_connection(self.app)
        if self.subject == "port":
            return trace.live_port(conn, parsed_args.port, cfg, host_override=parsed_args.host)
        return trace.live(conn, parsed_args.server, cfg, host_override=parsed_args.host,
                          way_out=parsed_args.to == "external")

    def _subject_arguments(self, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError

    def _ref(self, parsed_args: argparse.Namespace) -> str:
        return str(getattr(parsed_args, self.subject))

    @staticmethod
    def _host_failed(path: Any) -> bool:
        return bool(path.errors) or any(p.host_error for p in path.ports)

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Any, data: Any) -> int:
        if parsed_args.diagram:
            from osc_netpath.render import tree

            self.app.stdout.write(tree.diagram(self._path))
            return 0
        return super().produce_output(parsed_args, column_names, data)

    def run(self, parsed_args: argparse.Namespace) -> int:
        super().run(parsed_args)
        if not parsed_args.diagram:  # the diagram carries its findings itself
            self.app.stdout.flush()  # findings come after the path they are about
            for line in self._findings:
                self.app.stderr.write(f"warning: {line}\n")
        return self._exit


class ShowNetpath(_PathLister):
    """Show the network path of every port of a server, from the guest NIC to the uplink."""

    def _subject_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("server", metavar="<server>", help="Server to trace (name or ID)")
        parser.add_argument(
            "--to", choices=["external"], default=None,
            help="Also trace the way out: the router of each network (its qr- and qg- ports "
                 "in their namespaces on the hosts that hold them) and the floating IPs",
        )
        parser.add_argument(
            "--host", metavar="<host>",
            help="Compute host to probe: stands in for the server's host when policy hides "
                 "it; naming another host than the server's probes that host alone and exits 1",
        )


class ShowNetpathPort(_PathLister):
    """Show the network path of one port: a server's, a DHCP port or a router port (its
    namespace, its device there, br-int and the way to the uplink)."""

    subject = "port"

    def _subject_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("port", metavar="<port>", help="Port to trace (name or ID)")
        parser.add_argument(
            "--host", metavar="<host>",
            help="Host to probe: stands in for the port's binding:host_id when policy hides it",
        )


class ShowNetpathNetwork(command.Lister):
    """Show a network everywhere it is wired: per host its local VLAN, its ports and their
    devices, the DHCP agents and routers' L3 agents with their namespaces."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        from osc_netpath import config

        parser = super().get_parser(prog_name)
        parser.add_argument("network", metavar="<network>", help="Network (name or ID)")
        _capture_arguments(parser, "the network per host (ports, agents, namespaces)")
        config.add_arguments(parser)
        return parser

    # Replaying a capture needs no cloud; live runs authenticate in take_action.
    auth_required = False

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        from osc_lib import exceptions

        from osc_netpath import capture, config, trace
        from osc_netpath.cloud import session
        from osc_netpath.path import network

        def replay(bundle: capture.Bundle) -> tuple[Any, str]:
            found = capture.find(bundle, parsed_args.network, subject="network")
            return trace.replay_network(found), self._title(found)

        def live() -> tuple[tuple[Any, str], capture.Trace]:
            cfg = config.apply_args(config.load(session.netpath_settings(self.app)),
                                    parsed_args)
            view, _, recorded = trace.live_network(session.sdk_connection(self.app),
                                                   parsed_args.network, cfg)
            return (view, self._title(recorded)), recorded

        try:
            view, title = capture.run_or_replay(parsed_args.capture, parsed_args.record,
                                                replay, live)
        except capture.CaptureError as exc:
            raise exceptions.CommandError(str(exc)) from None
        self._view, self._title_text = view, title
        failed = bool(view.errors) or (parsed_args.strict and bool(view.findings))
        self._exit = 1 if failed else 0
        rows: list[tuple[Any, ...]] = [
            (r.host, r.kind, r.name, r.device, r.namespace, r.vlan, r.state, r.detail)
            for r in view.rows]
        if parsed_args.formatter == "table":
            rows = [tuple("" if v is None else v for v in r) for r in rows]
        return network.COLUMNS, rows

    @staticmethod
    def _title(recorded: Any) -> str:
        net = recorded.network_trace().network
        segments = ", ".join(
            " ".join(str(x) for x in (s.network_type, s.physical_network, s.segmentation_id)
                     if x is not None) for s in net.segments) or "no segment known"
        return f"network {net.name or net.id} ({net.id})  {segments}  MTU {net.mtu or '?'}"

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Any, data: Any) -> int:
        if parsed_args.diagram:
            from osc_netpath.render import tree

            self.app.stdout.write(tree.network_diagram(self._view, self._title_text))
            return 0
        return super().produce_output(parsed_args, column_names, data)

    def run(self, parsed_args: argparse.Namespace) -> int:
        super().run(parsed_args)
        if not parsed_args.diagram:  # the diagram carries its findings itself
            self.app.stdout.flush()
            for line in self._view.errors + self._view.findings:
                self.app.stderr.write(f"warning: {line}\n")
        return self._exit
