"""Stage 4, track: what providers report after a send (statuses, inbound texts), and the
channels stopped because a provider refused the school's account."""
