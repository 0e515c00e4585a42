"""`openstack aggregate zone-map`. OSC imports this module on every run: cliff/osc-lib only here,
everything else is imported inside take_action."""
from __future__ import annotations

import argparse
from typing import Any

from cliff import columns as cliff_columns
from osc_lib.command import command

_DEFAULT_FILTERS = "AggregateInstanceExtraSpecsFilter,AggregateMultiTenancyIsolation"
# Nova request pre-filters that nova.conf turns on: (flag, help). clouds.yaml netpath: zone_map:
# takes the same options under their nova.conf names.
_PREFILTER_FLAGS = (
    ("--placement-isolation", ("Also apply isolated aggregates (trait:<TRAIT>=required aggregate "
                              "metadata), as Nova does with [scheduler] "
                              "enable_isolated_aggregate_filtering")),
    ("--tenant-aggregates", ("Apply require_tenant_aggregate, as Nova does with [scheduler] "
                            "limit_tenants_to_placement_aggregate")),
    ("--tenant-aggregate-required", ("With --tenant-aggregates: a project without an aggregate "
                                    "is refused ([scheduler] "
                                    "placement_aggregate_required_for_tenants)")),
    ("--image-type-support", ("Require the image's COMPUTE_IMAGE_TYPE_* trait ([scheduler] "
                             "query_placement_for_image_type_support); needs --image")),
    ("--image-metadata-prefilter", ("Require the traits of the image's hw_* properties "
                                   "([scheduler] image_metadata_prefilter); needs --image")),
)


class _ReasonsColumn(cliff_columns.FormattableColumn):  # type: ignore[type-arg]
    """The reasons a flavor does not land on a host: a list for machines, one line for humans."""

    def human_readable(self) -> str:
        return "; ".join(self._value or [])

    def machine_readable(self) -> list[str]:
        return list(self._value or [])


class ZoneMapAggregate(command.Lister):
    """Show zones, their aggregates and hosts, and where a flavor can land (and why not)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--flavor", metavar="<flavor>",
            help="Flavor (name or ID): show on which hosts it can land, and why not on the others",
        )
        parser.add_argument(
            "--project", metavar="<project>",
            help="Project (name or ID) of the request, for AggregateMultiTenancyIsolation "
                 "(filter_tenant_id* metadata)",
        )
        parser.add_argument(
            "--zone", metavar="<zone>",
            help="Availability zone of the request: only the hosts Nova would consider for it",
        )
        parser.add_argument(
            "--default-zone", metavar="<zone>", default=None,
            help="Zone of hosts in no zone aggregate: nova.conf [DEFAULT] "
                 "default_availability_zone (default: nova)",
        )
        parser.add_argument(
            "--filters", metavar="<filter>[,<filter>...]", default=None,
            help="Host filters to apply, as in nova.conf [filter_scheduler] enabled_filters, "
                 "which the API does not show (default: " + _DEFAULT_FILTERS + "; 'none' for "
                 "none). ComputeFilter and the zone and disabled-compute pre-filters always apply",
        )
        for flag, help_text in _PREFILTER_FLAGS:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        parser.add_argument(
            "--image", metavar="<image>",
            help="Image (name or ID) of the request: its trait:*=required properties, and the "
                 "two image pre-filters above",
        )
        parser.add_argument(
            "--no-placement", dest="placement", action="store_false", default=None,
            help="With --flavor: do not ask Placement for allocation candidates (capacity, "
                 "the constraint that removes a host, aggregate mirror drift)",
        )
        layout = parser.add_mutually_exclusive_group()
        layout.add_argument(
            "--tree", dest="tree", action="store_true", default=None,
            help="Tree-shaped rows: zone, then aggregate, then host (default with -f table)",
        )
        layout.add_argument(
            "--flat", dest="tree", action="store_false",
            help="One row per zone/aggregate/host (default with -f json|yaml|csv|value or -c)",
        )
        parser.add_argument(
            "--strict", action="store_true",
            help="Exit non-zero when there are findings (warnings)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        from osc_lib import exceptions
        from osc_lib.cli import format_columns

        from osc_netpath import config
        from osc_netpath.cloud import placement as live
        from osc_netpath.cloud import session, zones
        from osc_netpath.scheduling import candidates, placement, view, zone_map

        try:
            settings = config.zone_map_settings(session.netpath_settings(self.app))
            opts = config.apply_zone_map_args(settings, parsed_args)
            filters = zone_map.parse_filters(opts.filters)
            modelled, others = zone_map.split_filters(filters)
            if (opts.image_type_support or opts.image_metadata_prefilter) and not parsed_args.image:
                raise zone_map.ZoneMapError(
                    "--image-type-support and --image-metadata-prefilter need --image")
            conn = self.app.client_manager.sdk_connection
            facts = zones.fetch(conn)
            flavor = image = None
            project_id = project_label = None
            if parsed_args.project:
                project_id = zones.resolve_project(conn, parsed_args.project)
                project_label = project_id if project_id == parsed_args.project else (
                    f"{parsed_args.project} ({project_id})")
            prefilters = candidates.PreFilters(
                isolated_aggregates=opts.placement_isolation,
                tenant_aggregates=opts.tenant_aggregates,
                tenant_aggregate_required=opts.tenant_aggregate_required,
                image_type_support=opts.image_type_support,
                image_metadata=opts.image_metadata_prefilter)
            view_live = None
            if parsed_args.flavor:
                flavor = zones.fetch_extra_specs(
                    conn, zone_map.find_flavor(facts.flavors, parsed_args.flavor))
                if parsed_args.image:
                    image = live.fetch_image(conn, parsed_args.image)
                if opts.placement:
                    request = candidates.build(
                        flavor, facts.aggregates, zone=parsed_args.zone, project_id=project_id,
                        prefilters=prefilters, image=image)
                    view_live, notes = live.fetch_view(
                        conn, facts, request, zones.compute_microversion(conn))
                    facts.notes.extend(notes)
                else:
                    groups = placement.trait_groups(flavor.extra_specs or {})
                    if groups:
                        facts.trait_checks, notes = zones.fetch_trait_checks(
                            conn, groups, zones.compute_microversion(conn))
                        facts.notes.extend(notes)
            zmap = zone_map.evaluate(facts, zone_map.Request(
                flavor=flavor,
                project_id=project_id,
                project_label=project_label,
                zone=parsed_args.zone,
                default_zone=opts.default_zone,
                filters=modelled,
                placement_isolation=opts.placement_isolation,
                other_filters=others,
                prefilters=prefilters if view_live is not None else None,
                placement=view_live,
                image=image,
            ))
        except (zone_map.ZoneMapError, zones.ZonesError) as exc:
            raise exceptions.CommandError(str(exc)) from None

        tree = parsed_args.tree
        if tree is None:
            tree = parsed_args.formatter == "table" and not parsed_args.columns
        self._tree = tree
        self._zmap = zmap
        self._exit = 1 if parsed_args.strict and zmap.findings else 0
        cols = view.columns(zmap, tree)
        if tree:
            return cols, view.tree_rows(zmap)
        rows = []
        for flat in view.flat_rows(zmap):
            cells = list(flat)
            if cells[3] is not None:
                cells[3] = format_columns.DictColumn(cells[3])
            why = cols.index("Why") if "Why" in cols else None
            if why is not None and cells[why] is not None:
                cells[why] = _ReasonsColumn(cells[why])
            rows.append(tuple(cells))
        return cols, rows

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Any, data: Any) -> int:
        from osc_netpath.scheduling import view

        if self._tree and parsed_args.sort_columns:
            # Sorting would scramble the tree; the tree has its own order (zone, aggregate, host).
            parsed_args.sort_columns = []
        human = parsed_args.formatter == "table"
        # Tables get the header on stdout; machine formats keep stdout pure data.
        out = self.app.stdout if human else self.app.stderr
        for line in view.header(self._zmap):
            out.write(f"{line}\n")
        result = super().produce_output(parsed_args, column_names, data)
        for finding in self._zmap.findings:
            self.app.stderr.write(f"warning: [{finding.code}] {finding.message}\n")
        return result

    def run(self, parsed_args: argparse.Namespace) -> int:
        super().run(parsed_args)
        return self._exit
