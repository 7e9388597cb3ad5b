"""Turning templates into the messages parents read: the text of every channel, language and
format, and what an SMS costs (encoding, segments). Pure; shared by previews, planning and
delivery."""
