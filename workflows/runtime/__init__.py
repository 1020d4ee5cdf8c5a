"""Runtime plumbing: where "advance this run" goes, the embedded worker, pushes to open pages and hooks."""
