"""Matching over consented data: people, questions, spaces, rides, missions (issue 6)."""
