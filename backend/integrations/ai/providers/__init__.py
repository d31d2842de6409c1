"""Provider implementations: one module per wire format, built by `factory.ProviderFactory`."""
