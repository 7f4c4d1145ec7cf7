"""Adjust -> Amplitude attribution sync: library code imported by the DAGs."""
