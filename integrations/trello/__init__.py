"""Trello: webhook verification and parsing, and the REST gateway."""
