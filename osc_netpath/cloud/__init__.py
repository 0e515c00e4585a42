"""API facts: what Nova and Neutron know, fetched with openstacksdk."""
