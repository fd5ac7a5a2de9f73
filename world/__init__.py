"""The demo world: a seeded, deterministic year of the business in the standard formats."""
