"""``netpath audit``: fleet checks over the same facts `netpath show` uses (pure, no I/O)."""
