"""Reusable widgets: navigation bar, image view, charts."""
