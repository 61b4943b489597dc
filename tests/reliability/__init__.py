"""Reliability and security: faults, hostile input, secrets, properties, load, and the case table."""
