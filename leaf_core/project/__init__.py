"""A project: corrections store (SQLite catalog + files), model versions, fine-tune jobs (no Qt)."""
