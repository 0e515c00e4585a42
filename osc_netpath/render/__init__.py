"""Rendering: cliff rows, the terminal diagram."""
