"""Model families, one module each (see ARCHITECTURE.md)."""
