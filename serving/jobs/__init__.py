"""The three jobs in the service: champions, the live state they score, and their answers."""
