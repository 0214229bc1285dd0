"""Pull requests: heads and bases, mergeability, merging in each style, reviews, review threads and suggestions."""
