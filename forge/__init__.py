"""The forge core: accounts, organisations, permissions, repositories and git.

The core imports none of the platforms (``ci``, ``community``, extensions) nor the web layer; they depend on it.
"""

__version__ = "0.1.0"
