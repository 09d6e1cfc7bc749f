"""Judge adapters that need an HTTP client (the external judge service)."""
