"""Stage 1, trigger: everything that asks for an announcement (the CLI, the API, the MIS, the
reminder clock) builds the same request here, and the data the audience is drawn from (the
roster) comes in here."""
