#!/usr/bin/env bash
# Installs everything the drills and tests need, idempotently: a second run
# only checks and returns in seconds. Usage: scripts/setup.sh [--report] [--docker] [--kubernetes]
#   --report      also install the Allure 3 HTML renderer (npm package "allure").
#   --docker      also a Docker engine (docker.io, started by hand as root when none
#                 answers) and the Docker target's local images (built once, by content).
#   --kubernetes  also (implies --docker) the local cluster's binaries and CoreDNS, built from
#                 the Go module proxy into a cache outside the checkout (scripts/k8s/build.sh,
#                 scripts/k8s/coredns.sh build; about 17 minutes the first time on 2 cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
FERRETDB_VERSION="v1.24.2"
TOXIPROXY_VERSION="v2.12.0"
ACTIONLINT_VERSION="v1.7.12"

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

want_report=0
want_docker=0
want_kubernetes=0
for arg in "$@"; do
    case "$arg" in
        --report) want_report=1 ;;
        --docker) want_docker=1 ;;
        --kubernetes) want_kubernetes=1; want_docker=1 ;;
        *) die "unknown option $arg (expected --report, --docker, --kubernetes)" ;;
    esac
done
mkdir -p "$BIN"

# The Go builds (FerretDB, actionlint, Toxiproxy) are kept outside the checkout too, one binary per
# version: a fresh clone copies them instead of building again.
CACHE="${CHAOS_CACHE:-/var/cache/chaos-drill}/tools"
if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w "$CACHE" ]]; then
    CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chaos-drill/tools"
    mkdir -p "$CACHE"
fi
from_cache() {  # from_cache NAME VERSION: the cached build of NAME at VERSION copied into $BIN; false if none
    [[ -x "$CACHE/$1-$2" ]] || return 1
    cp "$CACHE/$1-$2" "$BIN/.$1.partial" && mv "$BIN/.$1.partial" "$BIN/$1"
}
to_cache() {  # to_cache NAME VERSION: keep $BIN/NAME as the build of NAME at VERSION
    cp "$BIN/$1" "$CACHE/.$1-$2.partial" && mv "$CACHE/.$1-$2.partial" "$CACHE/$1-$2"
}

# --- Python virtualenv -------------------------------------------------------
# Exactly the versions of requirements.lock, checked against its hashes (scripts/lock.sh writes it);
# the project itself without build isolation, so nothing unlocked is fetched to build it. A changed
# lock makes a new virtualenv: nothing a former lock installed stays behind.
LOCK="$ROOT/requirements.lock"
stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" "$LOCK" | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    say "python: creating $VENV with the locked dependencies (requirements.lock)"
    command -v "$PYTHON" >/dev/null || die "python3 not found: install Python 3.11+"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than Python 3.11"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    # uv (its own version and hashes: scripts/uv.requirements), kept outside the checkout, installs the
    # same lock with the same hash checks as pip in a fraction of the time; pip does where uv cannot.
    # Both compile the bytecode at install: where PYTHONDONTWRITEBYTECODE is set, nothing else would, and
    # every Python process a test starts would compile every module it imports again (minutes in all).
    uv_env="$CACHE/uv-$(sha256sum "$ROOT/scripts/uv.requirements" | cut -c1-12)"
    if [[ ! -x "$uv_env/bin/uv" ]]; then
        rm -rf "$uv_env" && "$PYTHON" -m venv "$uv_env" && "$uv_env/bin/python" -m pip install --quiet \
            --disable-pip-version-check --require-hashes -r "$ROOT/scripts/uv.requirements" \
            || { say "python: uv could not be installed; pip installs the lock"; rm -rf "$uv_env"; }
    fi
    if [[ -x "$uv_env/bin/uv" ]]; then
        install=("$uv_env/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" --no-deps)
    else
        install=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps)
    fi
    "${install[@]}" --require-hashes -r "$LOCK" \
        || die "python: installing requirements.lock failed (see the installer's output above)"
    "${install[@]}" --no-build-isolation -e "$ROOT" \
        || die "python: installing the project into $VENV failed (see the installer's output above)"
    "$VENV/bin/python" -m pip check >/dev/null \
        || die "python: requirements.lock is inconsistent ($VENV/bin/python -m pip check); run scripts/lock.sh"
    touch "$stamp"
else
    say "python: $VENV is up to date"
fi

# --- redis-server ------------------------------------------------------------
if command -v redis-server >/dev/null; then
    say "redis-server: $(command -v redis-server)"
elif command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    say "redis-server: installing with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
else
    die "redis-server is missing: install it (Debian/Ubuntu: 'sudo apt-get install redis-server'; macOS: 'brew install redis')"
fi

# --- Prometheus (monitoring) -------------------------------------------------
# The sandbox runs its own instance (own config, port and data directory); the
# packaged service is neither needed nor touched.
if command -v prometheus >/dev/null; then
    say "prometheus: $(command -v prometheus)"
elif command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    say "prometheus: installing with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
else
    die "prometheus is missing: install it (Debian/Ubuntu: 'sudo apt-get install prometheus'; or put a Prometheus 2.x binary on PATH or in \$CHAOS_PROMETHEUS)"
fi

# --- MongoDB-wire server: mongod if present, else FerretDB v1 on SQLite ------
need_go() {
    command -v go >/dev/null || die "$1 needs the Go toolchain to build: install Go 1.21+ (https://go.dev/dl/) or put the binary at $BIN/$1"
}
if command -v mongod >/dev/null; then
    say "mongodb: using mongod at $(command -v mongod)"
elif [[ -x "$BIN/ferretdb" && "$("$BIN/ferretdb" --version 2>&1)" == *"$FERRETDB_VERSION"* ]]; then
    say "mongodb: FerretDB $FERRETDB_VERSION at $BIN/ferretdb"
elif from_cache ferretdb "$FERRETDB_VERSION" && [[ "$("$BIN/ferretdb" --version 2>&1)" == *"$FERRETDB_VERSION"* ]]; then
    say "mongodb: FerretDB $FERRETDB_VERSION copied from $CACHE"
else
    need_go ferretdb
    say "mongodb: building FerretDB $FERRETDB_VERSION (SQLite backend) into $BIN"
    # `go install` alone yields a binary that panics at start: the module zip
    # lacks build/version/version.txt, which FerretDB embeds. Build from a copy
    # of the module source with that file written. -trimpath keeps the copy's path
    # and -buildvcs=false the checkout's commit out of the binary, so every
    # checkout builds the same bytes and reuses one Docker image (images are
    # tagged by content).
    src_dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
        | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" \
        || die "ferretdb: could not download github.com/FerretDB/FerretDB@$FERRETDB_VERSION from the Go module proxy"
    build="$TOOLS/src/ferretdb"
    rm -rf "$build" && mkdir -p "$TOOLS/src"
    cp -r "$src_dir" "$build" && chmod -R u+w "$build"
    echo "$FERRETDB_VERSION" > "$build/build/version/version.txt"
    (cd "$build" && GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$BIN/ferretdb" ./cmd/ferretdb) \
        || die "ferretdb: build failed (see the go output above)"
    [[ "$("$BIN/ferretdb" --version 2>&1)" == *"$FERRETDB_VERSION"* ]] || die "ferretdb: built binary does not report $FERRETDB_VERSION"
    to_cache ferretdb "$FERRETDB_VERSION"
fi

# --- actionlint (make lint checks the weekly workflow with it) ----------------
if [[ -x "$BIN/actionlint" && "$(cat "$BIN/.actionlint-version" 2>/dev/null)" == "$ACTIONLINT_VERSION" ]]; then
    say "actionlint: $ACTIONLINT_VERSION at $BIN/actionlint"
elif from_cache actionlint "$ACTIONLINT_VERSION"; then
    echo "$ACTIONLINT_VERSION" > "$BIN/.actionlint-version"
    say "actionlint: $ACTIONLINT_VERSION copied from $CACHE"
else
    need_go actionlint
    say "actionlint: building $ACTIONLINT_VERSION into $BIN"
    GOBIN="$BIN" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
        || die "actionlint: go install github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION failed"
    echo "$ACTIONLINT_VERSION" > "$BIN/.actionlint-version"
    to_cache actionlint "$ACTIONLINT_VERSION"
fi

# --- Toxiproxy server --------------------------------------------------------
if [[ -x "$BIN/toxiproxy-server" && "$(cat "$BIN/.toxiproxy-version" 2>/dev/null)" == "$TOXIPROXY_VERSION" ]]; then
    say "toxiproxy: $TOXIPROXY_VERSION at $BIN/toxiproxy-server"
elif from_cache toxiproxy-server "$TOXIPROXY_VERSION"; then
    echo "$TOXIPROXY_VERSION" > "$BIN/.toxiproxy-version"
    say "toxiproxy: $TOXIPROXY_VERSION copied from $CACHE"
else
    need_go toxiproxy-server
    say "toxiproxy: building $TOXIPROXY_VERSION into $BIN"
    gobin="$(mktemp -d)"
    GOBIN="$gobin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
        || die "toxiproxy: go install github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION failed"
    mv "$gobin/server" "$BIN/toxiproxy-server" && rmdir "$gobin"
    echo "$TOXIPROXY_VERSION" > "$BIN/.toxiproxy-version"
    to_cache toxiproxy-server "$TOXIPROXY_VERSION"
fi

# --- Allure 3 report renderer (only for the drill report) --------------------
# Exactly the packages of scripts/report/package-lock.json (npm ci checks their integrity hashes).
if (( want_report )); then
    node_stamp="$TOOLS/node/.installed-$(cat "$ROOT/scripts/report/package.json" "$ROOT/scripts/report/package-lock.json" | sha256sum | cut -c1-16)"
    if [[ -x "$TOOLS/node/node_modules/.bin/allure" && -f "$node_stamp" ]]; then
        say "allure: $TOOLS/node/node_modules/.bin/allure"
    else
        command -v npm >/dev/null || die "allure: npm is missing; install Node.js 20+ to render the HTML report"
        say "allure: installing allure with npm ci, as scripts/report/package-lock.json pins it"
        rm -rf "$TOOLS/node" && mkdir -p "$TOOLS/node"
        cp "$ROOT/scripts/report/package.json" "$ROOT/scripts/report/package-lock.json" "$TOOLS/node/"
        npm ci --silent --no-fund --no-audit --prefix "$TOOLS/node" >/dev/null \
            || die "allure: 'npm ci' of scripts/report/package-lock.json failed"
        touch "$node_stamp"
    fi
fi
# --- Docker engine and the local image set (the docker target) --------------
if (( want_docker )); then
    if docker info >/dev/null 2>&1; then
        say "docker: an engine answers"
    elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        if ! command -v dockerd >/dev/null; then
            say "docker: installing docker.io with apt-get"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
        fi
        say "docker: starting dockerd (log: /var/log/chaos-dockerd.log)"
        nohup dockerd --host=unix:///var/run/docker.sock >/var/log/chaos-dockerd.log 2>&1 &
        for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
        docker info >/dev/null 2>&1 || die "docker: dockerd did not answer within 30s; see /var/log/chaos-dockerd.log"
    else
        die "docker: no engine answers and this is not root with apt-get: install and start Docker, then run again"
    fi
    if ! command -v debootstrap >/dev/null; then
        command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]] || die "debootstrap is missing: install it (Debian/Ubuntu: apt-get install debootstrap)"
        say "debootstrap: installing with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    say "docker: building the local images that are missing (cached by content)"
    "$VENV/bin/python" -m chaos.cli images build || die "docker: building the local images failed (see above)"
fi

# --- the local Kubernetes cluster's binaries (the kubernetes target) ---------
if (( want_kubernetes )); then
    say "kubernetes: building the cluster's binaries that are missing (cache: ${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-v1.37.2})"
    bash "$ROOT/scripts/k8s/build.sh" || die "kubernetes: scripts/k8s/build.sh failed (see above)"
    bash "$ROOT/scripts/k8s/coredns.sh" build || die "kubernetes: scripts/k8s/coredns.sh build failed (see above)"
fi
say "setup complete"
