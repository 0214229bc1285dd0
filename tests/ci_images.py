"""Docker images for CI tests, built on this machine: there is no image registry here.

``busybox_image()`` imports (``docker import``) a root filesystem made of Debian's statically linked busybox
(package ``busybox-static``): ``/bin/busybox`` with a symlink per applet, ``/tmp``, a minimal ``/etc/passwd``. No
git in it, on purpose: the runner must check out on the host. The tag is a hash of everything that goes into the
image, so it is built once and reused by every later test session until busybox or this recipe changes.

``docker_client()`` is the Docker Engine, or a skip (with the reason) when no engine answers.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any, Literal

import pytest

BUSYBOX = Path("/bin/busybox")
REPOSITORY = "forge-test/busybox"
# Change this when the recipe below changes, so an old image is not reused.
_RECIPE_VERSION = "1"
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"

_lock = threading.Lock()
_built: dict[str, str] = {}


def docker_client() -> Any:
    """A docker SDK client for a reachable engine; skips the test (clearly) when there is none."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"the Docker Engine is not reachable ({exc})")
    return client


def _is_static(path: Path) -> bool:
    """True when the ELF file has no program interpreter (PT_INTERP), i.e. needs no shared libraries."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only: Debian's amd64/arm64 busybox
        return False
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], order)
    phentsize = int.from_bytes(data[0x36:0x38], order)
    phnum = int.from_bytes(data[0x38:0x3A], order)
    for i in range(phnum):
        p_type = int.from_bytes(data[phoff + i * phentsize: phoff + i * phentsize + 4], order)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def _busybox() -> bytes:
    if not BUSYBOX.exists() or not _is_static(BUSYBOX):
        raise RuntimeError(
            f"{BUSYBOX} is missing or not statically linked: install Debian's busybox-static "
            "(apt-get install busybox-static) to build the CI test image"
        )
    return BUSYBOX.read_bytes()


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip() and line.strip() != "bin/busybox"})


def _rootfs(binary: bytes, applets: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "dev", "proc", "sys", "builds"}
        dirs |= {str(Path(a).parent) for a in applets}
        for name in sorted(dirs):
            add_dir(name, 0o700 if name == "root" else 0o755)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", binary, 0o755)
        for applet in applets:
            info = tarfile.TarInfo(applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "/bin/busybox"
            tar.addfile(info)
        add_file("etc/passwd", _PASSWD)
        add_file("etc/group", _GROUP)
    return buf.getvalue()


def busybox_image(client: Any | None = None) -> str:
    """The tag of the busybox test image, importing it into the engine when it is not there yet."""
    client = client or docker_client()
    binary = _busybox()
    applets = _applets()
    digest = hashlib.sha256(binary + "\n".join(applets).encode() + _PASSWD + _GROUP + _RECIPE_VERSION.encode())
    tag = digest.hexdigest()[:16]
    name = f"{REPOSITORY}:{tag}"
    with _lock:
        if name in _built:
            return name
        from docker.errors import ImageNotFound

        try:
            client.images.get(name)
        except ImageNotFound:
            client.api.import_image_from_data(
                _rootfs(binary, applets), repository=REPOSITORY, tag=tag,
                changes=['CMD ["sh"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            )
            client.images.get(name)  # fails loudly if the import did not produce the image
        _built[name] = name
    return name
