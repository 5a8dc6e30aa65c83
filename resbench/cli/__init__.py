"""Command-line interface (click).  Commands only parse options and render."""
