"""The reminder clock: calendar reminders computed from the school's year and sent when due,
exactly once."""
