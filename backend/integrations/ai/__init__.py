"""Panel's AI provider registry (being written)."""
