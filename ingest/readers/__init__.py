"""Readers for the standard formats; each validates every record and quarantines failures."""
