"""``dispatcher doctor``: is this set-up ready for families? The checks an IT lead runs before
going live and after each change: per school (``school_checks``) and for the deployment's
services (``service_checks``), gathered by ``run``, reported as ``findings``."""
