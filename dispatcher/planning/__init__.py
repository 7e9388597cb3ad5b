"""Stage 2, plan: an announcement becomes one delivery row per contact and channel, routed by
each family's channels, language and needs, held for the send window where the category
waits for it; and the dry run that shows all of this before anything is sent."""
