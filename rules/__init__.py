"""Bundled rule packs, one file per architecture, installed as ``grouprules._packs``."""
