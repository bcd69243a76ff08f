"""The environment's configuration, backed up to files with its secrets encrypted.

For the sandbox that is the drill configuration (budgets, targets), the app's
settings (replicas, the database and cache it connects to) and the Toxiproxy
links. Any value whose key names a secret — uri, url, password, secret, token,
key — is encrypted with a Fernet key and never written in clear: the key given
(a drill's comes from its backup store), else ``DRILL_BACKUP_KEY``; a backup
without a key is refused. The manifest names the key by its id, so a check that
fails says whether the key is the wrong one or a secret was altered; a check
without a key given takes DRILL_BACKUP_KEY, else the ``config.key`` the store
keeps beside the backup's run.

On Kubernetes it also holds the namespace's own objects (``resources.yaml``, the
plan's `kubectl get all,secrets -o yaml`): every value of a Secret's ``data`` is
encrypted the same way, and ``load_resources`` gives them back to be applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from cryptography.fernet import Fernet, InvalidToken

from chaos.config import DEFAULT_BUDGETS
from chaos.errors import BackupError, BackupVerificationError, ConfigError
from chaos.recovery.files import new_output_dir, sha256_file
from chaos.recovery.store import find_stored_key, key_id
from chaos.targets.config import DEFAULT_TARGETS

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.base import Endpoints

__all__ = ["KEY_VARIABLE", "backup_config", "load_resources", "new_key", "verify_config"]

KEY_VARIABLE = "DRILL_BACKUP_KEY"
SECRET_KEY = re.compile(r"(uri|url|password|secret|token|key)s?$", re.IGNORECASE)
MANIFEST = "manifest.json"
RESOURCES = "resources.yaml"


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str | None, source: str = KEY_VARIABLE) -> Fernet:
    key = key or os.environ.get(KEY_VARIABLE)
    if not key:
        raise ConfigError(f"set {KEY_VARIABLE} to a Fernet key (make one with `drill backup keygen`); "
                          "secrets are never written in clear")  # fmt: skip
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise ConfigError(f"{source} is not a valid Fernet key: {exc}") from None


def _key_for(backup_dir: Path, key: str | None, sealed_with: str | None = None) -> tuple[str, str]:
    """The key to open ``backup_dir``'s secrets with, and where it came from: the key given; else, of
    DRILL_BACKUP_KEY and the key stored beside the backup, the one whose id the manifest names (the first
    when neither is)."""
    if key:
        return key, "the key given"
    candidates = [(os.environ[KEY_VARIABLE], KEY_VARIABLE)] if os.environ.get(KEY_VARIABLE) else []
    stored = find_stored_key(backup_dir)
    if stored is not None:
        try:
            candidates.append((stored.read_text().strip(), str(stored)))
        except OSError as exc:
            if not candidates:
                raise BackupVerificationError(f"{stored}: the stored key is unreadable ({exc.strerror})") from None
    if not candidates:
        raise BackupVerificationError(f"{backup_dir}: no key to check its secrets with: {KEY_VARIABLE} is not set "
                                      "and no config.key is stored beside this backup in its store")  # fmt: skip
    return next((found for found in candidates if key_id(found[0]) == sealed_with), candidates[0])


def _seal(value: Any, fernet: Fernet, secrets: list[str], path: str = "") -> Any:
    if isinstance(value, dict):
        sealed = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)) and isinstance(item, str | list):
                secrets.append(where)
                sealed[key] = {"encrypted": fernet.encrypt(json.dumps(item).encode()).decode()}
            else:
                sealed[key] = _seal(item, fernet, secrets, where)
        return sealed
    if isinstance(value, list):
        return [_seal(item, fernet, secrets, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _collect(endpoints: Endpoints) -> dict[str, Any]:
    try:
        proxies = httpx.get(f"{endpoints.toxiproxy_api}/proxies", timeout=5).json() if endpoints.toxiproxy_api else {}
    except httpx.HTTPError as exc:
        raise BackupError(f"config backup: Toxiproxy API {endpoints.toxiproxy_api} unreachable: {exc!r}") from exc
    return {
        "app": {"replicas": len(endpoints.apps), "replica_urls": list(endpoints.apps), "database": endpoints.database,
                "mongodb_uri": endpoints.mongodb_proxy_uri, "redis_url": endpoints.redis_proxy_url},
        "links": {name: {"listen": p["listen"], "upstream": p["upstream"], "enabled": p["enabled"]}
                  for name, p in proxies.items()},
    }  # fmt: skip


def _seal_resources(objects: list[dict[str, Any]], fernet: Fernet, secrets: list[str]) -> list[dict[str, Any]]:
    """The objects with every value of each Secret's ``data`` and ``stringData`` encrypted."""
    sealed = []
    for obj in objects:
        obj = dict(obj)
        if obj.get("kind") == "Secret":
            name = obj.get("metadata", {}).get("name", "?")
            for field in ("data", "stringData"):
                values = obj.get(field) or {}
                obj[field] = {item: {"encrypted": fernet.encrypt(json.dumps(value).encode()).decode()}
                              for item, value in values.items()}  # fmt: skip
                secrets += [f"{RESOURCES}: Secret {name} {field}.{item}" for item in values]
        sealed.append(obj)
    return sealed


def backup_config(
    endpoints: Endpoints, output: Path, *, key: str | None = None, resources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Write the configuration to ``output`` (created; must be empty); returns the manifest.

    ``resources``: the deployment's own objects (Kubernetes), kept with their secrets encrypted."""
    fernet = _fernet(key)
    sealing_key = key or os.environ[KEY_VARIABLE]
    with new_output_dir(output):
        secrets: list[str] = []
        files = {
            "environment.json": json.dumps(_seal(_collect(endpoints), fernet, secrets), indent=2),
            "budgets.yaml": DEFAULT_BUDGETS.read_text(),
            "targets.yaml": DEFAULT_TARGETS.read_text(),
        }
        if resources is not None:
            files[RESOURCES] = yaml.safe_dump_all(_seal_resources(resources, fernet, secrets), sort_keys=False)
        manifest: dict[str, Any] = {"created_at": time.time(), "secrets": secrets, "key id": key_id(sealing_key),
                                    "files": {}}  # fmt: skip
        for name, text in files.items():
            (output / name).write_text(text)
            manifest["files"][name] = hashlib.sha256(text.encode()).hexdigest()
        (output / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return manifest


def _encrypted_values(value: Any) -> list[str]:
    if isinstance(value, dict):
        if set(value) == {"encrypted"}:
            return [value["encrypted"]]
        return [token for item in value.values() for token in _encrypted_values(item)]
    if isinstance(value, list):
        return [token for item in value for token in _encrypted_values(item)]
    return []


def verify_config(backup_dir: Path, *, key: str | None = None) -> dict[str, Any]:
    """Hashes match the manifest; every secret is encrypted and decrypts with the key."""
    path = backup_dir / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupVerificationError(f"{path}: missing; not a configuration backup") from None
    for name, expected in manifest["files"].items():
        file = backup_dir / name
        if not file.is_file():
            raise BackupVerificationError(f"{file}: missing")
        if sha256_file(file) != expected:
            raise BackupVerificationError(f"{file}: SHA-256 differs from the manifest; the file was changed")
    tokens = _encrypted_values(json.loads((backup_dir / "environment.json").read_text()))
    if RESOURCES in manifest["files"]:
        tokens += _encrypted_values(_read_resources(backup_dir))
    if len(tokens) != len(manifest["secrets"]):
        raise BackupVerificationError(f"{backup_dir / 'environment.json'}: {len(tokens)} encrypted values, "
                                      f"manifest lists {len(manifest['secrets'])} secrets")  # fmt: skip
    sealed_with = manifest.get("key id")
    key, source = _key_for(backup_dir, key, sealed_with)
    try:
        fernet = _fernet(key, source)
    except ConfigError as exc:
        raise BackupVerificationError(f"{backup_dir}: {exc}") from None
    if sealed_with and sealed_with != key_id(key):
        raise BackupVerificationError(f"{backup_dir}: its secrets were sealed with key id {sealed_with}; {source} "
                                      f"is another key (id {key_id(key)}): give the key of that run")  # fmt: skip
    for token in tokens:
        try:
            fernet.decrypt(token.encode())
        except InvalidToken:
            cause = "was altered" if sealed_with else "was altered, or the key is another one"
            raise BackupVerificationError(f"{backup_dir}: a secret does not decrypt with {source} (the key the "
                                          f"manifest names): it {cause}") from None  # fmt: skip
    return manifest


def _read_resources(backup_dir: Path) -> list[dict[str, Any]]:
    path = backup_dir / RESOURCES
    try:
        objects = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise BackupVerificationError(f"{path}: unreadable: {exc}") from None
    if not all(isinstance(obj, dict) and obj.get("kind") and isinstance(obj.get("metadata"), dict) for obj in objects):
        raise BackupVerificationError(f"{path}: not a list of Kubernetes objects")
    return objects


def load_resources(backup_dir: Path, *, key: str | None = None) -> list[dict[str, Any]]:
    """The deployment's objects of a verified configuration backup, their secrets decrypted: ready to apply."""
    manifest = verify_config(backup_dir, key=key)
    if RESOURCES not in manifest["files"]:
        raise BackupVerificationError(f"{backup_dir}: this configuration backup holds no Kubernetes resources")
    fernet = _fernet(_key_for(backup_dir, key, manifest.get("key id"))[0])
    objects = _read_resources(backup_dir)
    for obj in objects:
        if obj["kind"] == "Secret":
            for field in ("data", "stringData"):
                obj[field] = {item: json.loads(fernet.decrypt(value["encrypted"].encode()))
                              for item, value in (obj.get(field) or {}).items()}  # fmt: skip
    return objects
