"""Services for prompt templates: render one with its variables and run it through the registry."""
