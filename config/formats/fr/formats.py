# Django's French runs the date into the time ("6 décembre 2026 05:20"); "à" parts them.
DATETIME_FORMAT = r"j F Y \à H:i"
