"""E-mail to institution contacts (digests) and to servants (reminders): what is due, its wording, its sending."""
