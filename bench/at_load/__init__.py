"""Parts of bench/load.py (a package, so the bench smoke test sees one script)."""
