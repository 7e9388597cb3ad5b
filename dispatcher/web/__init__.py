"""The HTTP service: the REST API, MIS and provider webhooks, health and metrics. Routes are
thin: parse, call a stage, answer."""
