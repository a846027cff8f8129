"""Reusable answer extraction, normalisation and equivalence for the task modules."""
