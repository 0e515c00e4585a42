"""Host facts: what one read-only probe over SSH finds on a hypervisor or network node."""
