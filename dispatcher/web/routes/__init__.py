"""One module per group of routes; each parses the request, calls the stage that does the
work, and answers."""
