"""cliff commands, one module per noun. Keep imports inside take_action: OSC imports these on every run."""
