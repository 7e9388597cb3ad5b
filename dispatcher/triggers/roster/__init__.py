"""The roster: the MIS export the office uploads, parsed row by row and loaded into the store."""
