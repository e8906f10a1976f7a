# English as the site has always written it (Django's "en" is American: "Dec. 6, 2026, 4:08 a.m."):
# day, month, year and a 24-hour clock, which reads the same on both sides of the Atlantic.
DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
