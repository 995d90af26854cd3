"""The content format (pydantic models), loading YAML into an immutable Bundle, JSON Schemas."""
