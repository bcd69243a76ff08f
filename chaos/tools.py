"""Where the server binaries come from.

Lookup order for each tool: an environment variable naming the binary, the
project's ``.tools/bin`` (filled by ``scripts/setup.sh``), then ``PATH``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import ToolNotFoundError

__all__ = ["MongoServerKind", "Tool", "find_mongo_server", "find_tool", "tools_dir"]

SETUP_HINT = "run `scripts/setup.sh` (or `make setup`), which installs it"


@dataclass(frozen=True)
class Tool:
    name: str
    env_var: str
    how_to_get: str


REDIS_SERVER = Tool("redis-server", "CHAOS_REDIS_SERVER", "apt-get install redis-server")
REDIS_CHECK_RDB = Tool("redis-check-rdb", "CHAOS_REDIS_CHECK_RDB", "apt-get install redis-tools")
TOXIPROXY_SERVER = Tool(
    "toxiproxy-server",
    "CHAOS_TOXIPROXY_SERVER",
    "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 (installed as toxiproxy-server)",
)
FERRETDB = Tool("ferretdb", "CHAOS_FERRETDB", "scripts/setup.sh builds FerretDB v1.24.2 from the Go module proxy")
PROMETHEUS = Tool("prometheus", "CHAOS_PROMETHEUS", "apt-get install prometheus (Debian/Ubuntu; 2.x)")
MONGOD = Tool("mongod", "CHAOS_MONGOD", "install MongoDB Community Server")

MongoServerKind = str  # "mongod" or "ferretdb"


def tools_dir() -> Path:
    override = os.environ.get("CHAOS_TOOLS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / ".tools" / "bin"


def _lookup(tool: Tool) -> Path | None:
    explicit = os.environ.get(tool.env_var)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolNotFoundError(f"{tool.env_var}={explicit} is not an executable file")
        return path
    local = tools_dir() / tool.name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(tool.name)
    return Path(found) if found else None


def find_tool(tool: Tool) -> Path:
    """Return the path of ``tool`` or raise an error that says how to get it."""
    path = _lookup(tool)
    if path is None:
        raise ToolNotFoundError(
            f"{tool.name} not found (looked at ${tool.env_var}, {tools_dir()}, PATH). "
            f"Get it with: {tool.how_to_get}; or {SETUP_HINT}."
        )
    return path


def find_mongo_server() -> tuple[MongoServerKind, Path]:
    """``mongod`` when it is installed, else FerretDB with its SQLite backend."""
    mongod = _lookup(MONGOD)
    if mongod is not None:
        return "mongod", mongod
    return "ferretdb", find_tool(FERRETDB)
