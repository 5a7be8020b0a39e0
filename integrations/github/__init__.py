"""GitHub: webhook verification and parsing, payload models, and the REST gateway."""
