"""stagecache: build, cache and push every stage of a multi-stage Dockerfile."""

__version__ = "0.1.0"
