"""What every deployable shares: typed settings, key files, pseudonyms and field encryption."""
