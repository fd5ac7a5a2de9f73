"""The online-feature layer: in-memory feature state fed by pushed store rows (see ``source``)."""
