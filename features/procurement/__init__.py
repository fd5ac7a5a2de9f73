"""Procurement risk: red-flag indicators over OCDS contracting processes."""
