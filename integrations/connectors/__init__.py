"""Connectors: one package per application type, found through `registry` by the catalogue key."""
