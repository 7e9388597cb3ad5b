"""Who may do what: API tokens and the role rules every entry point applies."""
