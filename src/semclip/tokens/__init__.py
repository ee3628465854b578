"""Tokens: the frozen image tower's outputs for a dataset, computed once and kept.

Above both ``backbones`` (what computes a token) and ``data`` (what it is computed from):
``cache`` encodes a dataset through a backbone into sharded files on disk, resumably;
``store`` reads them back as one memory-mapped array.
"""
