"""Path resolution: CloudFacts + HostFacts -> ordered hops per port. Pure, no I/O."""
