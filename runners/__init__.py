"""forge-runner: the separate program that runs CI jobs (Docker or shell executor).

It talks to the forge over HTTP only and imports nothing from the server packages, so it installs alone on any
machine. Registration and job execution arrive with the CI issue; this package reserves the command name now so
operators' scripts can rely on it.
"""

__version__ = "0.1.0"
