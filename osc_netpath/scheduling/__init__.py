"""Nova scheduling semantics (pure), for ``openstack aggregate zone-map``."""
