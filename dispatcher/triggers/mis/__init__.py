"""Signed webhooks from a school's management system: signatures, event payloads, processing."""
