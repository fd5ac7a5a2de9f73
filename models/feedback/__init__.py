"""Classifying members' problem reports by kind: the keyword baseline and the n-gram model."""
