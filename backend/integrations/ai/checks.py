"""System checks for the registry (registered in AppConfig.ready)."""
