"""Dev-only code, never deployed: the demo runner and the sample warehouse generator."""
