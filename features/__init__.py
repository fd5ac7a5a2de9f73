"""Lodestar data: readers for the standard formats, the store, the demo world, features."""
