"""Images: where they are read from (sources), the collection in memory or on disk, and the views made of them."""
