"""One-off studies on public data: nothing here is registered or served."""
