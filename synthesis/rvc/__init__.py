"""RVC v2 inference written on torch: synthesizer, loader, content features, F0, index retrieval, live converter."""
