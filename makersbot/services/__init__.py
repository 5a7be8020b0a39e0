"""Business logic. Services receive their collaborators in __init__ and never build Block Kit."""
