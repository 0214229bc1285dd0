"""The assembled application: entry points that put the core and the platform packages together.

``forge`` (the core) may not import ``ci`` or ``web``; commands that need both are attached here, the one place
allowed to see every package.
"""
