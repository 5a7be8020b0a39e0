"""The database: tables (`models`) and every query, split by subject."""
