"""Whole-slide images: open a slide, find its tissue, plan its tiles, read their regions."""
