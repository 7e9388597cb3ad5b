"""Stage 5, report: what became of an announcement, the record of every message for the
school's files, and the metrics a monitoring system scrapes."""
