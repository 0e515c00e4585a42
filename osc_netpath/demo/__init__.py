"""The built-in demo capture, recorded from the test stack."""
