"""ci platform (arrives with its issues); it may import forge, never web."""
