"""placeholder until implemented."""
__all__ = []
