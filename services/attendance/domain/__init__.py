"""Attendance's pure rules, no I/O: ``intervals`` (how much of a session a servant attended), ``sessions``
(what enrollment tells attendance, and where a servant served when a session started), ``commands`` (marks,
check-ins, reports, grades, corrections and the close), ``reports`` and ``report_text`` (platform reports
read into connections), ``errors`` (the rules' violations)."""
