#!/usr/bin/env bash
# Cluster DNS (CoreDNS) for the drill cluster of scripts/k8s/cluster.sh, built from the Go module proxy.
#
#   scripts/k8s/coredns.sh build      # idempotent; a second run only checks
#   scripts/k8s/coredns.sh manifest   # prints the Kubernetes YAML (kubectl apply -f -)
#
# build: compiles CoreDNS $COREDNS_VERSION from a minimal main of our own that imports only
#   the plugins cluster DNS needs (bind reload ready health prometheus errors log loadbalance
#   cache kubernetes loop forward) and sets dnsserver.Directives to them, statically
#   (CGO_ENABLED=0), into $CACHE/bin/coredns. Then it puts the binary into a FROM-scratch image
#   docker.io/chaos-drill/coredns:<version> with Docker (starting dockerd if none answers),
#   `docker save`s it to $CACHE/images/coredns-<version>.tar and removes it from Docker again.
#   Cache: ${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-v1.37.2} (the one build.sh uses):
#   src/coredns holds the build module, go/mod and go/build the Go caches, logs/ the go output.
# manifest: ServiceAccount, ClusterRole(+Binding), ConfigMap (Corefile), Deployment (1 replica)
#   in kube-system and the Service kube-dns at 10.96.0.10. It runs as uid 65532 with no
#   capabilities; port 53 is bindable through the pod's own (namespaced, safe) sysctl
#   net.ipv4.ip_unprivileged_port_start=0. Names outside cluster.local are forwarded to the
#   non-loopback nameservers of the host's /etc/resolv.conf (the pod has dnsPolicy Default),
#   and not at all if there are none (a loopback resolver would be a forwarding loop).
#   CHAOS_COREDNS_FORWARD=0 leaves forwarding out; =IP[,IP...] forwards to those instead.
#
# Loading the image into the cluster's containerd (namespace k8s.io, its own socket):
#   ctr -a /var/lib/chaos-drill/k8s/containerd/containerd.sock -n k8s.io images import \
#       /var/cache/chaos-drill/k8s-v1.37.2/images/coredns-<version>.tar
# The kubelet's config needs clusterDNS: [10.96.0.10] and clusterDomain: cluster.local.
set -euo pipefail

COREDNS_VERSION="v1.15.0"
# the cluster's Kubernetes libraries instead of CoreDNS's v0.37.1 (same minor; shares the build cache)
K8S_LIBS_VERSION="v0.37.2"
K8S_VERSION="v1.37.2"
DNS_IP="10.96.0.10"
CLUSTER_DOMAIN="cluster.local"
NEED_MB="${CHAOS_COREDNS_NEED_MB:-2048}"

CACHE="${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-${K8S_VERSION}}"
BIN="$CACHE/bin"
SRC="$CACHE/src/coredns"
IMAGES="$CACHE/images"
LOGS="$CACHE/logs"
TAG="${COREDNS_VERSION#v}"
IMAGE="docker.io/chaos-drill/coredns:$TAG"
IMAGE_TAR="$IMAGES/coredns-$TAG.tar"
# Execution order of the plugins: the order of CoreDNS's plugin.cfg (prometheus is the metrics plugin).
DIRECTIVES=(bind reload ready health prometheus errors log loadbalance cache kubernetes loop forward)
PLUGIN_PKGS=(bind reload ready health metrics errors log loadbalance cache kubernetes loop forward)

SCRIPT=coredns.sh
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

# --- build ------------------------------------------------------------------------
coredns_ok() {  # is bin/coredns present, the right version, with the kubernetes plugin?
    local b="$BIN/coredns" out
    [[ -x "$b" ]] || return 1
    out="$("$b" -version 2>/dev/null)" || return 1
    [[ "$(head -n1 <<<"$out")" == "CoreDNS-$TAG" ]] || return 1
    out="$("$b" -plugins 2>/dev/null)" || return 1
    grep -qxE '(dns\.)?kubernetes' <<<"$out" && grep -qxE '(dns\.)?forward' <<<"$out"
}

ensure_docker() {
    docker info >/dev/null 2>&1 && return 0
    command -v dockerd >/dev/null || die "no Docker engine answers and there is no dockerd (apt-get install docker.io)"
    say "docker: no engine answers, starting dockerd (log /var/log/chaos-dockerd.log)"
    nohup dockerd --host=unix:///var/run/docker.sock >/var/log/chaos-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "dockerd did not answer after 30 s: see /var/log/chaos-dockerd.log"
}

build_binary() {
    command -v go >/dev/null || die "the Go toolchain (1.26+) is needed"
    local gov gomaj gomin
    gov="$(go env GOVERSION)"; gov="${gov#go}"
    IFS=. read -r gomaj gomin _ <<<"$gov"
    ((gomaj > 1 || (gomaj == 1 && gomin >= 26))) || die "Go $gov is too old: CoreDNS $COREDNS_VERSION needs Go 1.26+"

    mkdir -p "$BIN" "$SRC" "$LOGS" "$CACHE/go/mod" "$CACHE/go/build" "$CACHE/go/tmp"
    local free_mb
    free_mb="$(df -Pm "$CACHE" | awk 'NR==2 {print $4}')"
    ((free_mb >= NEED_MB)) || die "not enough disk space: $free_mb MB free on the filesystem of $CACHE, the CoreDNS build needs about $NEED_MB MB (set CHAOS_COREDNS_NEED_MB to change the limit)"

    export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOTMPDIR="$CACHE/go/tmp"
    export GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local
    export GOPROXY="${GOPROXY:-$(go env GOPROXY)}"

    write_if_changed "$SRC/go.mod.in" <<EOF
module chaos-drill.local/coredns-build

go 1.26.0

require (
	github.com/coredns/coredns $COREDNS_VERSION
	k8s.io/api $K8S_LIBS_VERSION
	k8s.io/apimachinery $K8S_LIBS_VERSION
	k8s.io/client-go $K8S_LIBS_VERSION
)
EOF
    {
        printf '// Command coredns is CoreDNS %s with only the plugins cluster DNS needs\n' "$COREDNS_VERSION"
        printf '// (CoreDNS'"'"'s "custom main" way of choosing plugins). Written by scripts/k8s/coredns.sh.\n'
        printf 'package main\n\nimport (\n'
        printf '\t"github.com/coredns/coredns/core/dnsserver"\n\t"github.com/coredns/coredns/coremain"\n\n'
        local p d
        while read -r p; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done \
            < <(printf '%s\n' "${PLUGIN_PKGS[@]}" | LC_ALL=C sort)   # gofmt's import order
        printf ')\n\n// directives in the order they run: the order of CoreDNS'"'"'s plugin.cfg.\nvar directives = []string{\n'
        for d in "${DIRECTIVES[@]}"; do printf '\t"%s",\n' "$d"; done
        printf '}\n\nfunc main() {\n\tif err := dnsserver.SetDirectives(directives); err != nil {\n\t\tpanic(err)\n\t}\n\tcoremain.Run()\n}\n'
    } | write_if_changed "$SRC/main.go"

    tidy_module "$SRC" coredns main.go

    local t0
    say "coredns: building $COREDNS_VERSION (go build -p 2, CGO_ENABLED=0)"
    t0=$SECONDS
    (cd "$SRC" && run_logged build-coredns go build -p 2 -trimpath \
        -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=module-proxy-$COREDNS_VERSION" \
        -o "$BIN/.coredns.tmp" .)
    mv -f "$BIN/.coredns.tmp" "$BIN/coredns"
    coredns_ok || die "coredns was built but does not report CoreDNS-$TAG with the kubernetes and forward plugins"
    say "coredns: built in $((SECONDS - t0)) s ($(du -m "$BIN/coredns" | cut -f1) MB)"
    rm -f "$IMAGE_TAR"   # the image must hold the new binary
    rm -rf "${CACHE:?}/go/tmp"/* 2>/dev/null || true
}

build_image() {
    ensure_docker
    mkdir -p "$IMAGES"
    say "coredns: building image $IMAGE (FROM scratch) and saving it to $IMAGE_TAR"
    save_scratch_image "$IMAGE" "$IMAGE_TAR" "$BIN/coredns" <<'EOF'
FROM scratch
COPY coredns /coredns
USER 65532:65532
EXPOSE 53 53/udp 9153
ENTRYPOINT ["/coredns"]
EOF
}

do_build() {
    case "$CACHE" in
        /*) ;;
        *) die "CHAOS_K8S_CACHE must be an absolute path (got '$CACHE')" ;;
    esac
    local repo_root
    repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    case "$CACHE/" in
        "$repo_root"/*) die "the cache $CACHE is inside the checkout $repo_root: choose a path outside it" ;;
    esac
    if coredns_ok; then
        say "coredns: $COREDNS_VERSION already at $BIN/coredns"
    else
        build_binary
    fi
    if [[ -s "$IMAGE_TAR" ]]; then
        say "coredns: image $IMAGE already saved at $IMAGE_TAR"
    else
        build_image
    fi
    say "done: $BIN/coredns ($("$BIN/coredns" -version | head -n1)), image $IMAGE in $IMAGE_TAR"
}

# --- manifest -----------------------------------------------------------------------
forward_line() {  # the Corefile's forward block, or a comment saying why there is none
    local want="${CHAOS_COREDNS_FORWARD:-auto}" ns all=() ok=()
    case "$want" in
        0|off|none) echo "# no forward: CHAOS_COREDNS_FORWARD=$want"; return ;;
        auto) ;;
        *) echo "forward . ${want//,/ } {"; printf '    max_concurrent 1000\n    read_timeout 2s\n}\n'; return ;;
    esac
    # the pod gets the kubelet's resolvConf (/etc/resolv.conf) with dnsPolicy: Default
    mapfile -t all < <(awk '$1 == "nameserver" {print $2}' /etc/resolv.conf 2>/dev/null)
    for ns in "${all[@]}"; do
        case "$ns" in 127.*|::1|0.0.0.0|::) ;; *) ok+=("$ns") ;; esac
    done
    if ((${#ok[@]} == 0)); then
        echo "# no forward: the host's /etc/resolv.conf names no non-loopback nameserver (${all[*]:-none})"
    elif ((${#ok[@]} == ${#all[@]})); then
        printf 'forward . /etc/resolv.conf {\n    max_concurrent 1000\n    read_timeout 2s\n}\n'
    else
        printf 'forward . %s {\n    max_concurrent 1000\n    read_timeout 2s\n}\n' "${ok[*]}"
    fi
}

do_manifest() {
    local fwd
    fwd="$(forward_line | sed 's/^/        /')"
    cat <<EOF
# Cluster DNS for the drill cluster: CoreDNS $TAG (scripts/k8s/coredns.sh build), image loaded
# into the cluster's containerd (imagePullPolicy: Never). Kubelet: clusterDNS [$DNS_IP],
# clusterDomain $CLUSTER_DOMAIN.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
  - kind: ServiceAccount
    name: coredns
    namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns}
data:
  Corefile: |
    .:53 {
        errors
        health {
            lameduck 5s
        }
        ready
        log . {
            class error
        }
        kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 1
        }
        prometheus :9153
$fwd
        cache 1
        loop
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  replicas: 1
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  selector:
    matchLabels: {k8s-app: kube-dns}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      tolerations:
        - {key: CriticalAddonsOnly, operator: Exists}
        - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        # lets the non-root server bind :53 without any capability (namespaced, a "safe" sysctl)
        sysctls:
          - {name: net.ipv4.ip_unprivileged_port_start, value: "0"}
      containers:
        - name: coredns
          image: $IMAGE
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          resources:
            requests: {cpu: 100m, memory: 70Mi}
            limits: {memory: 170Mi}
          ports:
            - {name: dns, containerPort: 53, protocol: UDP}
            - {name: dns-tcp, containerPort: 53, protocol: TCP}
            - {name: metrics, containerPort: 9153, protocol: TCP}
          volumeMounts:
            - {name: config-volume, mountPath: /etc/coredns, readOnly: true}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          readinessProbe:
            httpGet: {path: /ready, port: 8181, scheme: HTTP}
            periodSeconds: 2
          livenessProbe:
            httpGet: {path: /health, port: 8080, scheme: HTTP}
            initialDelaySeconds: 60
            timeoutSeconds: 5
            successThreshold: 1
            failureThreshold: 5
      volumes:
        - name: config-volume
          configMap:
            name: coredns
            items: [{key: Corefile, path: Corefile}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {app.kubernetes.io/part-of: chaos-drill, k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
  annotations: {prometheus.io/port: "9153", prometheus.io/scrape: "true"}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: $DNS_IP
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
    - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
EOF
}

case "${1:-}" in
    build) shift; (($# == 0)) || die "build takes no arguments"; do_build ;;
    manifest) shift; (($# == 0)) || die "manifest takes no arguments"; do_manifest ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
