"""The HTTP service: provider webhooks, MIS webhooks, the REST API, health and metrics."""
