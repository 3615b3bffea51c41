"""Plugins: hook specifications, the resource-driver contract, and the registry that loads them."""
