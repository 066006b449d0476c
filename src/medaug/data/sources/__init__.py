"""One reader per source format; each returns a :class:`~medaug.data.manifest.Manifest`."""
