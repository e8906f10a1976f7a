# Django's German runs the date into the time ("6. Dezember 2026 05:20"); a comma parts them.
DATETIME_FORMAT = "j. F Y, H:i"
