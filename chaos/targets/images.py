"""The container images of the Docker target, per component, in two sets.

``upstream``: the official images a user's CI pulls (``mongo:7``, ``redis:7``,
Toxiproxy's and Prometheus's own images) and the app built from
``deploy/docker/app.Dockerfile`` on ``python:3.11-slim``. ``local``: all of it built on
this machine from a Debian base made with debootstrap, for machines that cannot
pull from Docker Hub: FerretDB stands in for MongoDB, Debian's redis-server and
prometheus, the Toxiproxy and FerretDB binaries the set-up built. Local images
are tagged by the hash of what goes into them, so a build is done once; a
rebuild drops the tags (and the app's release images) it replaced.

Each component says how its image is run: the command, the port it listens on,
where its data lives. A release of the app is an image of its own, tagged with
the version: deploying it and rolling back run another tag.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import ConfigError, StartupError, ToolNotFoundError
from chaos.tools import FERRETDB, TOXIPROXY_SERVER, find_tool

if TYPE_CHECKING:
    import docker

__all__ = ["IMAGE_SETS", "Component", "ImageSet", "build_local_images", "release_image"]

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "chaos-drill"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# A Redis that keeps its settings in a file on its volume, so CONFIG REWRITE makes a persistence
# switch survive a restart, as `--appendonly yes` on a local command line does. The password comes from
# the environment and reaches redis-server on its standard input, every byte \x-escaped, never on a command
# line; umask 077 keeps the file CONFIG REWRITE writes it into 0600. Without a password protected mode stays
# on: Redis then answers only the container's own loopback.
REDIS_START = "\n".join((
    "umask 077",
    "test -f /data/redis.conf || "
    r"""printf 'dir /data\nbind 0.0.0.0\nport 6379\nappendonly no\nsave ""\n' > /data/redis.conf""",
    '[ -n "$REDIS_PASSWORD" ] || exec redis-server /data/redis.conf',
    r"""secret=$(printf %s "$REDIS_PASSWORD" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')""",
    "unset REDIS_PASSWORD",
    "exec redis-server /data/redis.conf - <<EOF",
    'requirepass "$secret"',
    "EOF",
))  # fmt: skip


@dataclass(frozen=True)
class Component:
    image: str
    port: int  # inside the container
    command: tuple[str, ...] = ()
    data: str = ""  # where its data lives in the container: a named volume is mounted there
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSet:
    name: str
    mongodb: Component
    redis: Component
    toxiproxy: Component
    prometheus: Component
    app: Component  # the release 1.0.0 image; releases are tagged from it


def _ferretdb(image: str) -> Component:
    return Component(image, 27017, ("--handler=sqlite", "--sqlite-url=file:/data/", "--listen-addr=0.0.0.0:27017",
                                    "--state-dir=/data", "--telemetry=disable", "--debug-addr=-",
                                    "--log-level=error"), "/data")  # fmt: skip


PROMETHEUS_COMMAND = ("--config.file=/etc/drill/prometheus.yml", "--storage.tsdb.path=/prometheus",
                      "--storage.tsdb.retention.time=1d", "--web.listen-address=0.0.0.0:9090",
                      "--log.level=warn")  # fmt: skip
APP_COMMAND = ("python3", "-m", "sandbox.calendar_assistant", "--host", "0.0.0.0", "--port", "8080")

IMAGE_SETS = {
    "upstream": ImageSet(
        "upstream",
        mongodb=Component("mongo:7", 27017, ("mongod", "--bind_ip_all"), "/data/db"),
        redis=Component("redis:7", 6379, ("sh", "-c", REDIS_START), "/data"),
        toxiproxy=Component("ghcr.io/shopify/toxiproxy:2.12.0", 8474, ("-host=0.0.0.0",)),
        prometheus=Component("prom/prometheus:v2.53.2", 9090, PROMETHEUS_COMMAND, "/prometheus"),
        app=Component(f"{PREFIX}/calendar-assistant-upstream:1.0.0", 8080, APP_COMMAND),
    ),
    "local": ImageSet(
        "local",
        mongodb=_ferretdb(f"{PREFIX}/ferretdb"),
        redis=Component(f"{PREFIX}/redis", 6379, ("sh", "-c", REDIS_START), "/data"),
        toxiproxy=Component(f"{PREFIX}/toxiproxy", 8474, ("toxiproxy-server", "-host", "0.0.0.0", "-port", "8474")),
        prometheus=Component(f"{PREFIX}/prometheus", 9090, ("prometheus", *PROMETHEUS_COMMAND), "/prometheus"),
        app=Component(f"{PREFIX}/calendar-assistant:1.0.0", 8080, APP_COMMAND),
    ),
}


def release_image(client: docker.DockerClient, images: ImageSet, release: dict[str, str]) -> str:
    """The app image of ``release`` (version and defect), built from the set's app image if missing.

    The first release is the app image itself; any other is tagged with its version, its defect and
    the app image it was made from, so an app rebuilt since, or another defect, is another image.
    """
    if release["version"] == "1.0.0" and not release.get("defect"):
        return images.app.image
    base = client.images.get(images.app.image).short_id.removeprefix("sha256:")
    tag = f"{images.app.image.rsplit(':', 1)[0]}:{release['version']}-{release.get('defect') or 'good'}-{base}"
    if not client.images.list(name=tag):
        dockerfile = (f"FROM {images.app.image}\nENV CALENDAR_VERSION={json.dumps(release['version'])} "
                      f"CALENDAR_DEFECT={json.dumps(release.get('defect', ''))}\n")  # fmt: skip
        _build(client, tag, dockerfile, {})
    return tag


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


def _build(client: docker.DockerClient, tag: str, dockerfile: str, files: dict[str, Path | bytes]) -> None:
    """Build ``tag`` from ``dockerfile`` and ``files`` (name in the context -> a host file, or bytes)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        entries: dict[str, Path | bytes] = {"Dockerfile": dockerfile.encode(), **files}
        for name, source in entries.items():
            if isinstance(source, Path) and source.is_dir():
                tar.add(str(source), arcname=name)
                continue
            data = source.read_bytes() if isinstance(source, Path) else source
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True)
    except Exception as exc:  # docker's BuildError carries the build log
        log = "".join(str(line.get("stream", "")) for line in getattr(exc, "build_log", []))[-3000:]
        raise StartupError(f"building image {tag} failed: {exc}\n{log}") from exc


def _debian_base(client: docker.DockerClient) -> str:
    """A minimal Debian bookworm image, made with debootstrap from this machine's own package mirror."""
    tag = f"{PREFIX}/debian:bookworm"
    if client.images.list(name=tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise ToolNotFoundError("debootstrap is missing: apt-get install debootstrap (it makes the local images' base)")
    mirror = _mirror()
    with tempfile.TemporaryDirectory(prefix="chaos-rootfs-") as rootfs:
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(Path(rootfs) / cache, ignore_errors=True)
            (Path(rootfs) / cache).mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, check=False)
        tar.wait()
        if imported.returncode != 0:
            raise StartupError(f"docker import of the Debian base failed: {imported.stderr.decode()[-500:]}")
    return tag


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (the only one reachable here)."""
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if not source.exists():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1:
                return words[1]
            if words[:1] == ["deb"] and len(words) > 1:
                return words[1]
    return "http://deb.debian.org/debian"


def build_local_images(client: docker.DockerClient) -> tuple[list[str], list[str]]:
    """Build every image of the ``local`` set that is missing; returns the tags built and the stale ones dropped."""
    base = _debian_base(client)
    ferretdb, toxiproxy = find_tool(FERRETDB), find_tool(TOXIPROXY_SERVER)
    apt = "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
    certs = {"ca.crt": CA_BUNDLE} if CA_BUNDLE.exists() else {}
    app_files: dict[str, Path | bytes] = {"sandbox": ROOT / "sandbox", **certs}
    recipes: dict[str, tuple[str, dict[str, Path | bytes]]] = {
        "ferretdb": (f"FROM {base}\nCOPY ferretdb /usr/local/bin/ferretdb\nENTRYPOINT [\"ferretdb\"]\n",
                     {"ferretdb": ferretdb}),
        "redis": (f"FROM {base}\n{apt} redis-server && rm -rf /var/lib/apt/lists/*\n", {}),
        "toxiproxy": (f"FROM {base}\nCOPY toxiproxy-server /usr/local/bin/toxiproxy-server\n",
                      {"toxiproxy-server": toxiproxy}),
        "prometheus": (f"FROM {base}\n{apt} prometheus && rm -rf /var/lib/apt/lists/*\n", {}),
        "calendar-assistant": (
            f"FROM {base}\n{apt} python3 python3-pip ca-certificates && rm -rf /var/lib/apt/lists/*\n"
            + ("COPY ca.crt /usr/local/share/ca-certificates/host.crt\nRUN update-ca-certificates\n" if certs else "")
            + "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_BREAK_SYSTEM_PACKAGES=1\n"
            "RUN pip install --no-cache-dir -q 'pymongo>=4.6,<5' 'redis>=5,<9'\n"
            "WORKDIR /app\nCOPY sandbox /app/sandbox\n",
            app_files,
        ),
    }  # fmt: skip
    built: list[str] = []
    dropped: list[str] = []
    images = IMAGE_SETS["local"]
    targets = {"ferretdb": images.mongodb.image, "redis": images.redis.image, "toxiproxy": images.toxiproxy.image,
               "prometheus": images.prometheus.image, "calendar-assistant": images.app.image}  # fmt: skip
    for name, (dockerfile, files) in recipes.items():
        content = _hash(dockerfile.encode(), *(_digest(source) for source in files.values()))
        stamped = f"{targets[name].split(':')[0]}:build-{content}"
        if not client.images.list(name=stamped):
            _build(client, stamped, dockerfile, files)
            built.append(stamped)
        client.images.get(stamped).tag(targets[name].split(":")[0], targets[name].split(":")[1] if ":" in
                                       targets[name] else "latest")  # fmt: skip
        dropped += _untag_stale(client, targets[name].split(":")[0], keep=stamped)
    return built, dropped


RELEASE_TAG = re.compile(r"^\d+\.\d+\.\d+-[\w.-]+-([0-9a-f]{12})$")  # release_image's tags


def _untag_stale(client: docker.DockerClient, repository: str, *, keep: str) -> list[str]:
    """Drop the tags a rebuild left behind in ``repository``: earlier ``build-*`` stamps and the releases
    made from an app image that is no longer current. An image still used by a container keeps its tag."""
    import docker.errors

    current = client.images.get(keep).short_id.removeprefix("sha256:")
    removed = []
    for image in client.images.list(name=repository):
        for tag in image.tags:
            name, _, version = tag.rpartition(":")
            if name != repository or tag == keep:
                continue
            release = RELEASE_TAG.match(version)
            if not (version.startswith("build-") or (release and release.group(1) != current)):
                continue
            try:
                client.images.remove(tag)
            except docker.errors.APIError:  # in use by a container: kept until that container goes
                continue
            removed.append(tag)
    return removed


def _digest(source: Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    if source.is_dir():
        files = sorted(path for path in source.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
        return b"".join(str(path.relative_to(source)).encode() + path.read_bytes() for path in files)
    return source.read_bytes()


def require_images(client: docker.DockerClient, images: ImageSet) -> None:
    """Every image of the set present, or a message saying how to get it; nothing is pulled or built here."""
    every = (images.mongodb, images.redis, images.toxiproxy, images.prometheus, images.app)
    missing = [component.image for component in every if not client.images.list(name=component.image)]
    if missing:
        how = ("run `drill images build`" if images.name == "local"
               else "pull them (docker pull) and build the app image from deploy/docker/app.Dockerfile")  # fmt: skip
        raise ConfigError(f"the {images.name} image set lacks {', '.join(missing)}: {how}")
