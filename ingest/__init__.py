"""Getting data in: readers for the standard formats, the ingestion run, the push client."""
