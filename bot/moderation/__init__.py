"""What moderators run: the full validation, transcript tests, live reload, graphs, stats."""
