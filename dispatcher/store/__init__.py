"""Persistence: the tables, the engine, and the queries the stages share. Queries, not
decisions: what a row's state means is decided in the stages."""
