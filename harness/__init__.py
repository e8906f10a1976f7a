"""Real servers on loopback (redis-server, PostgreSQL, an SMTP server, our app as fly runs it),
shared by the tests and the benchmark; neither owns the other."""
