"""Configuration files, read and checked: the categories (policy), the schools, their calendars
and the reminder rules. Read once per process; a mistake names the file and the key."""
