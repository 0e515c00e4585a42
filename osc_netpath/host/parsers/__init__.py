"""Parsers: one module per source tool; raw text in, facts out. Pure functions."""
