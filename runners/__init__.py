"""forge-runner: the separate program that runs CI jobs (Docker or shell executor).

It talks to the forge over HTTP only (the runner protocol of docs/ci.md) and imports nothing from the server
packages, so it installs alone on any machine. ``cli`` is the command, ``config`` its file, ``client`` the
protocol, ``runner`` the job loop, ``logs`` masking and log upload, ``checkout`` the git fetch on the host,
``executors`` where jobs run.
"""

__version__ = "0.1.0"
