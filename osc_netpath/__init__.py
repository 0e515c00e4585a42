"""osc-netpath: trace a server's network path from the OpenStack API to the hypervisor's wires."""
