// ImageModel module: see docs/architecture.md for what it holds.
