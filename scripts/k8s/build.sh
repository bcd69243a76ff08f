#!/usr/bin/env bash
# Builds the binaries of a real single-node Kubernetes cluster from the Go module
# proxy into a cache OUTSIDE the checkout, idempotently (anything already built
# with the right version is skipped; a second run only checks).
#
#   scripts/k8s/build.sh [--download-only]
#
# Into ${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-v1.37.2}:
#   bin/      kube-apiserver kube-controller-manager kube-scheduler kubelet
#             kube-proxy kubectl (v1.37.2, version-stamped), etcd etcdctl (v3.7.3),
#             helm (v3.22.0), crictl (v1.37.0, used by `cluster.sh down` to tear
#             pods down through the CRI), pause (Kubernetes' own pause.c, static)
#   images/   pause-3.10.2.tar: a `docker save` of a FROM-scratch image holding
#             that pause binary (no registry is reachable here)
#   go/mod, go/build   the Go module and build caches (keep them in CI)
#   src/      the small build modules (go.mod, tools.go); logs/  the go commands' output
# --download-only prepares the modules and downloads every dependency without
# compiling anything (cheap on CPU: useful to warm a CI cache).
# Also apt-installs the host packages the cluster needs if any is missing.
set -euo pipefail

K8S_VERSION="v1.37.2"
ETCD_VERSION="v3.7.3"
HELM_VERSION="v3.22.0"
CRICTL_VERSION="v1.37.0"
PAUSE_VERSION="3.10.2"
NEED_GB="${CHAOS_K8S_NEED_GB:-8}"

CACHE="${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-${K8S_VERSION}}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
IMAGES="$CACHE/images"
PAUSE_IMAGE="chaos-drill/pause:${PAUSE_VERSION}"

SCRIPT=build.sh
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

download_only=0
for arg in "$@"; do
    case "$arg" in
        --download-only) download_only=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) die "unknown option $arg (expected --download-only)" ;;
    esac
done

case "$CACHE" in
    /*) ;;
    *) die "CHAOS_K8S_CACHE must be an absolute path (got '$CACHE')" ;;
esac
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "$CACHE/" in
    "$repo_root"/*) die "the cache $CACHE is inside the checkout $repo_root: choose a path outside it" ;;
esac

# --- which artifacts are missing ---------------------------------------------
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
semver="${K8S_VERSION#v}"
ver_ok() {  # ver_ok NAME: is bin/NAME present with the wanted version?
    local b="$BIN/$1" out
    [[ -x "$b" ]] || return 1
    case "$1" in
        kubectl) out="$("$b" version --client 2>/dev/null)" || return 1
                 [[ "$out" == *"Client Version: $K8S_VERSION"* ]] ;;
        kube-*|kubelet) out="$("$b" --version 2>/dev/null)" || return 1
                 [[ "$out" == "Kubernetes $K8S_VERSION" ]] ;;
        etcd)    out="$("$b" --version 2>/dev/null)" || return 1
                 [[ "$out" == *"etcd Version: ${ETCD_VERSION#v}"* ]] ;;
        etcdctl) out="$("$b" version 2>/dev/null)" || return 1
                 [[ "$out" == *"etcdctl version: ${ETCD_VERSION#v}"* ]] ;;
        helm)    out="$(HOME=/nonexistent "$b" version --short 2>/dev/null)" || return 1
                 [[ "$out" == "$HELM_VERSION"* ]] ;;
        crictl)  out="$("$b" --version 2>/dev/null)" || return 1
                 [[ "$out" == *"$CRICTL_VERSION"* ]] ;;
        pause)   out="$("$b" -v 2>/dev/null)" || return 1
                 [[ "$out" == *"v$PAUSE_VERSION"* ]] ;;
        *) return 1 ;;
    esac
}
ALL=("${K8S_BINARIES[@]}" etcd etcdctl helm crictl pause)
missing=()
for b in "${ALL[@]}"; do ver_ok "$b" || missing+=("$b"); done
pause_tar="$IMAGES/pause-${PAUSE_VERSION}.tar"
[[ -s "$pause_tar" ]] || missing+=("pause-image")

# --- host packages (idempotent) -----------------------------------------------
apt_pkgs=(containerd runc containernetworking-plugins openssl nftables iptables util-linux gcc libc6-dev curl)
need_pkgs=()
for p in "${apt_pkgs[@]}"; do
    grep -q 'install ok installed' <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
    command -v apt-get >/dev/null || die "missing packages ${need_pkgs[*]} and no apt-get: install them by hand"
    [[ "$(id -u)" == 0 ]] || die "missing packages ${need_pkgs[*]}: run as root (or install them) first"
    say "apt: installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
else
    say "apt: ${apt_pkgs[*]} already installed"
fi

if ((${#missing[@]} == 0)) && ((download_only == 0)); then
    say "cache: everything at $BIN is built with the right versions (nothing to do)"
    exit 0
fi

# --- Go toolchain and disk space ----------------------------------------------
command -v go >/dev/null || die "the Go toolchain (1.26+) is needed: install it from https://go.dev/dl/"
gov="$(go env GOVERSION)"; gov="${gov#go}"
IFS=. read -r gomaj gomin _ <<<"$gov"
((gomaj > 1 || (gomaj == 1 && gomin >= 26))) || die "Go $gov is too old: Kubernetes $K8S_VERSION needs Go 1.26+"

mkdir -p "$BIN" "$SRC" "$IMAGES" "$CACHE/go/mod" "$CACHE/go/build" "$CACHE/go/tmp"
used_kb="$(du -sk "$CACHE" | cut -f1)"
free_kb="$(df -Pk "$CACHE" | awk 'NR==2 {print $4}')"
need_kb=$((NEED_GB * 1024 * 1024 - used_kb))
((need_kb < 1024 * 1024)) && need_kb=$((1024 * 1024))
if ((free_kb < need_kb)); then
    die "not enough disk space: $((free_kb / 1024)) MB free on the filesystem of $CACHE, the build needs about $((need_kb / 1024)) MB more (about ${NEED_GB} GB in all, $((used_kb / 1024)) MB already cached). Free some space or point CHAOS_K8S_CACHE at a larger disk."
fi
say "disk: $((free_kb / 1024)) MB free for $CACHE, about $((need_kb / 1024)) MB needed"

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOTMPDIR="$CACHE/go/tmp"
export GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local
export GOPROXY="${GOPROXY:-$(go env GOPROXY)}"

LOGS="$CACHE/logs"
mkdir -p "$LOGS"
# run_logged NAME CMD...: runs CMD with its output in $LOGS/NAME.log, shown on failure.
is_missing() { local m; for m in "${missing[@]}"; do [[ "$m" == "$1" ]] && return 0; done; return 1; }
k8s_needed=0; for b in "${K8S_BINARIES[@]}"; do is_missing "$b" && k8s_needed=1; done
etcd_needed=0; { is_missing etcd || is_missing etcdctl; } && etcd_needed=1
((download_only)) && k8s_needed=1 && etcd_needed=1


# --- Kubernetes ---------------------------------------------------------------
if ((k8s_needed)); then
    kdir="$SRC/k8s"
    mkdir -p "$kdir"
    say "kubernetes: fetching k8s.io/kubernetes@$K8S_VERSION's go.mod"
    kmod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    [[ -f "$kmod" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION from $GOPROXY"
    staging_ver="v0.${semver#1.}"
    # Every staging module kubernetes replaces with ./staging/..., pinned to its
    # published version instead (sample-cli-plugin and sample-controller are not
    # served and not needed).
    replaces="$(sed -n '/^replace (/,/^)/p' "$kmod" \
        | awk -v v="$staging_ver" '$2 == "=>" && $1 != "k8s.io/sample-cli-plugin" && $1 != "k8s.io/sample-controller" {printf "\t%s => %s %s\n", $1, $1, v}')"
    [[ -n "$replaces" ]] || die "no replace block found in $kmod"
    gomod_go="$(awk '$1 == "go" {print $2; exit}' "$kmod")"
    write_if_changed "$kdir/go.mod.in" <<EOF
module chaos-drill.local/k8s-build

go $gomod_go

godebug default=go1.26

require k8s.io/kubernetes $K8S_VERSION

replace (
$replaces
)
EOF
    {
        printf '//go:build tools\n\n// Package tools pins the Kubernetes commands this module builds.\npackage tools\n\nimport (\n'
        for b in "${K8S_BINARIES[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
        printf ')\n'
    } | write_if_changed "$kdir/tools.go"
    tidy_module "$kdir" kubernetes tools.go

    if ((download_only == 0)); then
        minor="${semver#1.}"; minor="${minor%%.*}"
        kflags="-s -w"
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            kflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
            kflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
        done
        for b in "${K8S_BINARIES[@]}"; do
            if ! is_missing "$b"; then
                say "$b: $K8S_VERSION already at $BIN/$b"
                continue
            fi
            say "$b: building $K8S_VERSION (go build k8s.io/kubernetes/cmd/$b)"
            t0=$SECONDS
            (cd "$kdir" && run_logged "build-$b" go build -trimpath -ldflags "$kflags" -o "$BIN/.$b.tmp" "k8s.io/kubernetes/cmd/$b")
            mv -f "$BIN/.$b.tmp" "$BIN/$b"
            ver_ok "$b" || die "$b was built but does not report $K8S_VERSION"
            say "$b: built in $((SECONDS - t0)) s ($(du -m "$BIN/$b" | cut -f1) MB)"
        done
    fi
else
    say "kubernetes: ${K8S_BINARIES[*]} are $K8S_VERSION already"
fi

# --- etcd ---------------------------------------------------------------------
if ((etcd_needed)); then
    edir="$SRC/etcd"
    mkdir -p "$edir"
    write_if_changed "$edir/go.mod.in" <<EOF
module chaos-drill.local/etcd-build

go 1.26.0

require (
	go.etcd.io/etcd/etcdctl/v3 $ETCD_VERSION
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
)

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
    write_if_changed "$edir/tools.go" <<'EOF'
//go:build tools

// Package tools pins the etcd commands this module builds.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
EOF
    tidy_module "$edir" etcd tools.go
    if ((download_only == 0)); then
        for pair in etcd:go.etcd.io/etcd/server/v3 etcdctl:go.etcd.io/etcd/etcdctl/v3; do
            b="${pair%%:*}"; pkg="${pair#*:}"
            if ! is_missing "$b"; then
                say "$b: $ETCD_VERSION already at $BIN/$b"
                continue
            fi
            say "$b: building $ETCD_VERSION (go build $pkg)"
            t0=$SECONDS
            (cd "$edir" && run_logged "build-$b" go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-proxy-$ETCD_VERSION" -o "$BIN/.$b.tmp" "$pkg")
            mv -f "$BIN/.$b.tmp" "$BIN/$b"
            ver_ok "$b" || die "$b was built but does not report $ETCD_VERSION"
            say "$b: built in $((SECONDS - t0)) s ($(du -m "$BIN/$b" | cut -f1) MB)"
        done
    fi
else
    say "etcd: etcd and etcdctl are $ETCD_VERSION already"
fi

# --- helm and crictl (plain `go install pkg@version`: no replace directives) ----
go_install() {  # go_install NAME PKG VERSION LDFLAGS
    local b="$1" pkg="$2" ver="$3" ldf="$4" gobin="$CACHE/go/gobin"
    if ((download_only)); then
        say "$b: downloading the modules of $pkg@$ver"
        run_logged "download-$b" env GOBIN="$gobin" go install -n -trimpath "$pkg@$ver"
        return
    fi
    if ! is_missing "$b"; then
        say "$b: $ver already at $BIN/$b"
        return
    fi
    say "$b: building $ver (go install $pkg@$ver)"
    local t0=$SECONDS
    mkdir -p "$gobin"
    run_logged "build-$b" env GOBIN="$gobin" go install -trimpath -ldflags "$ldf" "$pkg@$ver"
    mv -f "$gobin/$b" "$BIN/$b"
    ver_ok "$b" || die "$b was built but does not report $ver"
    say "$b: built in $((SECONDS - t0)) s ($(du -m "$BIN/$b" | cut -f1) MB)"
}
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
helm_mod="$GOMODCACHE/cache/download/helm.sh/helm/v3/@v/$HELM_VERSION.mod"
if is_missing helm && ((download_only == 0)); then
    run_logged download-helm-mod go mod download "helm.sh/helm/v3@$HELM_VERSION"
    # Helm's Makefile derives the Kubernetes version it lints against from its client-go.
    cg="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$helm_mod")"
    if [[ "$cg" =~ ^v0\.([0-9]+)\. ]]; then
        for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
            helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${BASH_REMATCH[1]}"
        done
    fi
fi
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$helm_ldflags"
go_install crictl sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"

# --- pause: Kubernetes' own pause.c, static, in a FROM-scratch image -------------
if ((download_only)); then
    say "download-only: modules are in $GOMODCACHE; nothing compiled"
    exit 0
fi
if is_missing pause; then
    kdir_mod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    pause_c="$kdir_mod/build/pause/linux/pause.c"
    [[ -f "$pause_c" ]] || die "pause.c not found at $pause_c"
    say "pause: compiling $pause_c (gcc -static, version v$PAUSE_VERSION)"
    gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION" -o "$BIN/.pause.tmp" "$pause_c"
    strip "$BIN/.pause.tmp" 2>/dev/null || true
    mv -f "$BIN/.pause.tmp" "$BIN/pause"
    ver_ok pause || die "pause was built but does not report v$PAUSE_VERSION"
    rm -f "$pause_tar"   # rebuild the image from the new binary
fi
if [[ ! -s "$pause_tar" ]]; then
    if docker info >/dev/null 2>&1; then
        say "pause: building image $PAUSE_IMAGE with Docker and saving it to $pause_tar"
        printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' \
            | save_scratch_image "$PAUSE_IMAGE" "$pause_tar" "$BIN/pause"
    else
        say "pause: WARNING no Docker engine answers, so the pause image was not built; run this script again once Docker runs"
    fi
else
    say "pause: image $PAUSE_IMAGE already saved at $pause_tar"
fi

rm -rf "${CACHE:?}/go/tmp"/* 2>/dev/null || true
say "done: binaries in $BIN ($(du -sh "$CACHE" | cut -f1) in $CACHE)"
