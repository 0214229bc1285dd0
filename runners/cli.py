"""The `forge-runner` command: `register` this machine with a forge, then `run` jobs.

Exit codes: 0 done, 1 the forge or the Docker Engine failed or refused, 2 a usage or configuration problem. Every
error is one sentence on stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from runners import __version__
from runners.client import register
from runners.config import EXECUTORS, ConfigError, RunnerConfig, default_config_path, load, save
from runners.errors import ClientError

EXIT_OK, EXIT_SERVER, EXIT_USAGE = 0, 1, 2


def _labels(text: str) -> list[str]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    for label in labels:
        if any(c.isspace() for c in label):
            raise argparse.ArgumentTypeError(f"a label cannot contain spaces: {label!r}")
    return list(dict.fromkeys(labels))


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forge-runner", description="Runs CI jobs for a forge in Docker containers or a shell."
    )
    parser.add_argument("--version", action="version", version=f"forge-runner {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None,
                        help=f"the configuration file (default: {default_config_path()})")
    sub = parser.add_subparsers(dest="command")

    reg = sub.add_parser("register", parents=[common],
                         help="Register this machine with a forge using a registration token.")
    reg.add_argument("--url", required=True, help="the forge's address, e.g. https://forge.example")
    reg.add_argument("--token", required=True, help="a registration token (frt_...) from the forge's settings")
    reg.add_argument("--name", default=socket.gethostname(), help="how the forge shows this runner (host name)")
    reg.add_argument("--labels", type=_labels, default=[], help="comma-separated labels jobs can ask for in tags")
    reg.add_argument("--concurrency", type=_concurrency, default=1, help="jobs run at once (default 1)")
    reg.add_argument("--executor", choices=EXECUTORS, default="docker", help="where jobs run (default docker)")
    reg.add_argument("--work-dir", default="", help="where job workspaces are made (default: the temp directory)")
    reg.add_argument("--default-image", default="", help="the image for jobs that name none")
    reg.add_argument("--force", action="store_true", help="replace an existing configuration file")

    run = sub.add_parser("run", parents=[common], help="Poll the forge for jobs and run them.")
    run.add_argument("--once", action="store_true", help="run one job, then exit")
    return parser


def _error(message: str) -> None:
    print(f"forge-runner: {message}", file=sys.stderr)


def _register(args: argparse.Namespace, path: Path) -> int:
    if path.exists() and not args.force:
        _error(f"{path} already exists; use --force to replace it, or --config to write another file.")
        return EXIT_USAGE
    config = RunnerConfig(url=args.url.rstrip("/"), id=0, token="-", name=args.name, labels=args.labels,
                          concurrency=args.concurrency, executor=args.executor, work_dir=args.work_dir,
                          default_image=args.default_image)
    try:
        config.validate()
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        config.id, config.token = register(config.url, args.token, name=config.name, labels=config.labels,
                                           concurrency=config.concurrency, executor=config.executor)
    except ClientError as exc:
        _error(str(exc))
        return EXIT_SERVER
    try:
        save(path, config)
    except OSError as exc:
        _error(f"registered as runner {config.id}, but cannot write {path}: {exc.strerror or exc}.")
        return EXIT_USAGE
    print(f"Registered runner {config.id} ({config.name}) with {config.url}; configuration written to {path}.")
    return EXIT_OK


def _run(args: argparse.Namespace, path: Path) -> int:
    from runners.executors import make_executor
    from runners.runner import Runner

    try:
        config = load(path)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # httpx logs every request at INFO; with long polls and heartbeats that drowns what the runner itself says.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if config.executor == "docker":
        problem = _docker_problem()
        if problem:
            _error(problem)
            return EXIT_SERVER
    executor = make_executor(config)
    removed = executor.remove_leftovers()
    if removed:
        logging.getLogger("forge_runner").info("removed %d container(s) an earlier run of this runner left behind",
                                               removed)
    runner = Runner(config, executor, once=args.once)

    def abort(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("forge_runner").info("%s: canceling the running jobs and stopping",
                                               signal.Signals(signum).name)
        runner.stop(abort=True)

    def drain(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("forge_runner").info("SIGQUIT: finishing the running jobs, then stopping")
        runner.stop(abort=False)

    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGINT, abort)
    signal.signal(signal.SIGQUIT, drain)
    code = runner.run()
    if runner.error:
        _error(runner.error)
    return code


def _docker_problem() -> str | None:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
        client.close()
    except DockerException as exc:
        return (f"the Docker Engine is not reachable ({exc}); start it, or register a runner with "
                "--executor shell.")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    path = args.config or default_config_path()
    if args.command == "register":
        return _register(args, path)
    return _run(args, path)


if __name__ == "__main__":
    sys.exit(main())
