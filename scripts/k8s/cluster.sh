#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this host, from the binaries that
# scripts/k8s/build.sh caches, torn down without a trace.
#
#   scripts/k8s/cluster.sh up [IMAGE...]        start everything, wait for the node
#                                               to be Ready, load IMAGEs (Docker)
#   scripts/k8s/cluster.sh load-images IMAGE... docker save | ctr import, plus the pause image
#   scripts/k8s/cluster.sh status               which component runs (exit 0 all, 1 some, 3 none)
#   scripts/k8s/cluster.sh down [--keep-logs]   stop everything and remove every trace
#   scripts/k8s/cluster.sh env                  print exports for KUBECONFIG and PATH
#   scripts/k8s/cluster.sh run [IMAGE...] -- CMD...
#                                               up, run CMD, down (also when CMD fails
#                                               or the script is interrupted); CMD's status
#
# Root only. State (certificates, etcd data, containerd root, kubelet root, logs)
# lives under ${CHAOS_K8S_STATE:-/var/lib/chaos-drill/k8s}; `down` deletes it
# (with --keep-logs, everything but logs/). The admin kubeconfig is
# $STATE/admin.kubeconfig, context "chaos-local".
#
# Host traces and how they are kept away or removed:
#  - sysctls: the kubelet runs in its own mount namespace where the /proc/sys files
#    it insists on are shadowed by plain files (protectKernelDefaults: true), and
#    kube-proxy has every conntrack setting 0, so neither writes a host sysctl;
#  - the kubelet root is a shared bind mount (volume mounts reach containerd);
#    `down` unmounts everything under $STATE;
#  - containerd is our own (own socket, root, state, runc root, netns mounts
#    under its state dir); `down` removes every pod through the CRI (CNI DEL), then
#    any task left, then stops it and any of its shims;
#  - kube-proxy's nftables tables (kube-proxy --cleanup), KUBE-*/CNI-* iptables
#    chains (those present before `up` are left alone), the CNI bridge,
#    /kubepods cgroups, /var/log/containers symlinks and the directories `up`
#    found missing and the components created (listed in $STATE/host-created).
set -euo pipefail

K8S_VERSION="v1.37.2"
CACHE="${CHAOS_K8S_CACHE:-/var/cache/chaos-drill/k8s-${K8S_VERSION}}"
BIN="$CACHE/bin"
STATE="${CHAOS_K8S_STATE:-/var/lib/chaos-drill/k8s}"
NODE_NAME="${CHAOS_K8S_NODE_NAME:-chaos-node}"
API_PORT="${CHAOS_K8S_API_PORT:-6443}"
ETCD_PORT="${CHAOS_K8S_ETCD_PORT:-2379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
POD_CIDR="${CHAOS_K8S_POD_CIDR:-10.244.0.0/24}"
SERVICE_CIDR="${CHAOS_K8S_SERVICE_CIDR:-10.96.0.0/24}"
SERVICE_IP="${SERVICE_CIDR%.*}.1"   # first address of the service range (a /24 or larger)
BRIDGE="chaos-cni0"
CNI_NET="chaos-pods"
CNI_BIN_DIR="${CHAOS_K8S_CNI_BIN:-/usr/lib/cni}"
PAUSE_VERSION="3.10.2"
PAUSE_TAR="$CACHE/images/pause-${PAUSE_VERSION}.tar"
PAUSE_IMAGE="docker.io/chaos-drill/pause:${PAUSE_VERSION}"
CONTEXT="chaos-local"

# etcd's data and containerd's root (images, snapshots) on tmpfs: deleting them
# from this ext4 disk (mounted with discard) took 38 s at every `down`.
# auto: when at least 4 GiB of memory is available; 1: always; 0: never.
TMPFS="${CHAOS_K8S_TMPFS:-auto}"
TMPFS_SIZE="${CHAOS_K8S_TMPFS_SIZE:-6g}"   # a limit for containerd's root, not a reservation

PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
CTRD="$STATE/containerd"
SOCK="$CTRD/containerd.sock"
KROOT="$STATE/kubelet"
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
# Host paths a run may create; `up` lists the missing ones, `down` removes them again.
HOST_PATHS=(/var/log/containers /var/log/pods /var/lib/cni /run/netns /etc/cni /opt/cni
            /usr/libexec/kubernetes /var/lib/kubelet /run/containerd /run/containerd/s /etc/kubernetes)
# The sysctls the kubelet checks (protectKernelDefaults) and the values it wants.
KUBELET_SYSCTLS=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
                 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)

say() { printf '==> %s\n' "$*"; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

[[ "$(id -u)" == 0 ]] || die "must run as root (it starts a kubelet, containerd and network rules)"
case "$STATE" in
    /*) [[ "$STATE" != / && "${#STATE}" -gt 5 ]] || die "refusing state dir '$STATE'" ;;
    *) die "CHAOS_K8S_STATE must be an absolute path (got '$STATE')" ;;
esac
STATE="${STATE%/}"

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }

# --- processes ------------------------------------------------------------------
exe_of() {  # the program a component runs as
    case "$1" in
        containerd) readlink -f "$(command -v containerd)" ;;
        *) printf '%s\n' "$BIN/$1" ;;
    esac
}
pid_of() {  # prints the pid of a running component (matching pid file and program), or fails
    local name="$1" pid exe
    [[ -f "$RUN/$name.pid" ]] || return 1
    pid="$(cat "$RUN/$name.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe="$(readlink -f "/proc/$pid/exe" 2>/dev/null)" || return 1
    [[ "$exe" == "$(exe_of "$name")" ]] || return 1
    printf '%s\n' "$pid"
}
start_proc() {  # start_proc NAME CMD...: in its own session, output to $LOGS/NAME.log
    local name="$1"; shift
    # shellcheck disable=SC2016  # $$ and "$@" belong to the inner shell
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$RUN/$name.pid" "$@" \
        >>"$LOGS/$name.log" 2>&1 </dev/null &
    local _i
    for _i in $(seq 50); do
        [[ -s "$RUN/$name.pid" ]] && pid_of "$name" >/dev/null && return 0
        sleep 0.1
    done
    tail -n 20 "$LOGS/$name.log" >&2 || true
    die "$name did not start: see $LOGS/$name.log"
}
stop_proc() {  # stop_proc SECONDS NAME...: TERM to all at once, KILL any left after SECONDS
    local wait="$1" name pid _i t0 left; shift
    local -A pids=()
    t0="$(now)"
    for name in "$@"; do
        if pid="$(pid_of "$name")"; then
            pids[$name]="$pid"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for _i in $(seq $((wait * 20))); do
        left=0
        for name in "${!pids[@]}"; do kill -0 "${pids[$name]}" 2>/dev/null && left=1; done
        ((left)) || break
        sleep 0.05
    done
    for name in "$@"; do
        [[ -n "${pids[$name]:-}" ]] || { rm -f "$RUN/$name.pid"; continue; }
        pid="${pids[$name]}"
        if kill -0 "$pid" 2>/dev/null; then
            say "$name: still running after ${wait} s, killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        say "$name: stopped (pid $pid) in $(since "$t0") s"
        rm -f "$RUN/$name.pid"
    done
}
wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
    local secs="$1" _i; shift 2
    for _i in $(seq $((secs * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
port_busy() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

# --- certificates and kubeconfigs --------------------------------------------------
gen_cert() {  # gen_cert NAME CN O client|server|both [SAN]
    local name="$1" cn="$2" org="$3" use="$4" san="${5:-}" subj ext eku
    subj="/CN=$cn"; [[ -n "$org" ]] && subj+="/O=$org"
    case "$use" in client) eku=clientAuth ;; server) eku=serverAuth ;; *) eku=serverAuth,clientAuth ;; esac
    ext="$PKI/$name.ext"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        [[ -n "$san" ]] && echo "subjectAltName=$san"
    } >"$ext"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -days 365 -out "$PKI/$name.crt" -extfile "$ext" 2>/dev/null
    rm -f "$PKI/$name.csr" "$ext"
}
write_kubeconfig() {  # write_kubeconfig FILE CERTNAME USER CONTEXT
    local file="$1" cert="$2" user="$3" ctx="$4" k=("$BIN/kubectl" config --kubeconfig "$1")
    "${k[@]}" set-cluster "$ctx" --server="https://127.0.0.1:$API_PORT" \
        --certificate-authority="$PKI/ca.crt" --embed-certs=true >/dev/null
    "${k[@]}" set-credentials "$user" --client-certificate="$PKI/$cert.crt" \
        --client-key="$PKI/$cert.key" --embed-certs=true >/dev/null
    "${k[@]}" set-context "$ctx" --cluster="$ctx" --user="$user" >/dev/null
    "${k[@]}" use-context "$ctx" >/dev/null
    chmod 600 "$file"
}
make_pki() {
    mkdir -p "$PKI"; chmod 700 "$PKI"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 3650 \
        -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=chaos-drill-k8s-ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    gen_cert apiserver kube-apiserver "" server \
        "IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:$NODE_NAME,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    gen_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
    gen_cert admin chaos-admin system:masters client
    gen_cert controller-manager system:kube-controller-manager "" client
    gen_cert scheduler system:kube-scheduler "" client
    gen_cert kube-proxy system:kube-proxy "" client
    gen_cert kubelet-client "system:node:$NODE_NAME" system:nodes client
    gen_cert kubelet-server "$NODE_NAME" "" server "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost"
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
    openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    chmod 600 "$PKI"/*.key
    write_kubeconfig "$ADMIN_KUBECONFIG" admin chaos-admin "$CONTEXT"
    write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager system:kube-controller-manager default
    write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler system:kube-scheduler default
    write_kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy system:kube-proxy default
    write_kubeconfig "$STATE/kubelet.kubeconfig" kubelet-client "system:node:$NODE_NAME" default
}

# --- configuration files --------------------------------------------------------------
write_configs() {
    mkdir -p "$CTRD/root" "$CTRD/state" "$CTRD/runc" "$STATE/cni/net.d" "$STATE/cni/networks" \
        "$STATE/pod-logs" "$STATE/kubelet-plugins/volume/exec" "$STATE/sysctl-shadow" "$KROOT"
    cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "can't get final child's PID from pipe"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
    # bridge + host-local + portmap, then firewall: Docker's FORWARD policy drops
    # pod traffic otherwise.
    cat >"$STATE/cni/net.d/10-$CNI_NET.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/networks"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": "iptables"}
  ]
}
EOF
    cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
rotateCertificates: false
serverTLSBootstrap: false
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# the kubelet only checks these sysctls (shadowed in its mount namespace)
protectKernelDefaults: true
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/kubelet-plugins/volume/exec
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
# CoreDNS (scripts/k8s/coredns.sh), deployed by "up" at the Service IP below
clusterDNS: [10.96.0.10]
hairpinMode: hairpin-veth
maxPods: 110
# a drill node: no disk-pressure evictions or image GC on a small disk
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
    cat >"$STATE/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
detectLocalMode: ClusterCIDR
# 0 everywhere: kube-proxy leaves the host's conntrack sysctls alone
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
EOF
    local kv
    for kv in "${KUBELET_SYSCTLS[@]}"; do
        echo "${kv#*=}" >"$STATE/sysctl-shadow/$(echo "${kv%%=*}" | tr / .)"
    done
    printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$SOCK" "$SOCK" >"$STATE/crictl.yaml"
}

# --- images -----------------------------------------------------------------------
ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }
load_pause() {
    # grep reads a captured list: with pipefail, `ctr ... | grep -q` fails when grep stops reading early
    grep -qxF "$PAUSE_IMAGE" <<<"$(ctr_ images ls -q 2>/dev/null)" && return 0
    [[ -s "$PAUSE_TAR" ]] || die "no pause image at $PAUSE_TAR: run scripts/k8s/build.sh (it builds one with Docker)"
    ctr_ images import "$PAUSE_TAR" >>"$LOGS/images.log" 2>&1 || die "importing $PAUSE_TAR failed: see $LOGS/images.log"
    grep -qxF "$PAUSE_IMAGE" <<<"$(ctr_ images ls -q)" || die "$PAUSE_TAR did not hold $PAUSE_IMAGE"
    say "images: pause image $PAUSE_IMAGE loaded (built locally from Kubernetes' pause.c)"
}
load_images() {
    pid_of containerd >/dev/null || die "the cluster's containerd is not running: run '$0 up' first"
    load_pause
    local img t0
    for img in "$@"; do
        docker image inspect "$img" >/dev/null 2>&1 || die "Docker has no image '$img' (docker images lists them)"
    done
    (( $# )) || return 0
    # One archive of them all: the layers they share (the Debian base of the local set) go across once.
    t0="$(now)"
    docker save "$@" | ctr_ images import - >>"$LOGS/images.log" 2>&1 \
        || die "loading $* failed: see $LOGS/images.log"
    say "images: $* loaded into the cluster's containerd in $(since "$t0") s"
}

# --- cluster DNS -------------------------------------------------------------------
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dns_ready() {
    [[ "$(kubectl_admin -n kube-system get deployment coredns -o 'jsonpath={.status.readyReplicas}')" == 1 ]]
}
deploy_dns() {  # CoreDNS (scripts/k8s/coredns.sh build) at 10.96.0.10: pods find Services by name
    local tar t0
    tar="$(ls "$CACHE"/images/coredns-*.tar 2>/dev/null | sort -V | tail -n1)"
    [[ -n "$tar" ]] || die "no CoreDNS image in $CACHE/images: run scripts/k8s/coredns.sh build"
    t0="$(now)"
    ctr_ images import "$tar" >>"$LOGS/images.log" 2>&1 || die "importing $tar failed: see $LOGS/images.log"
    bash "$HERE/coredns.sh" manifest | kubectl_admin apply -f - >>"$LOGS/dns.log" 2>&1 \
        || die "applying the CoreDNS manifest failed: see $LOGS/dns.log"
    wait_for 90 "CoreDNS" dns_ready || die "CoreDNS not Ready after 90 s: kubectl -n kube-system describe pods"
    say "dns: CoreDNS Ready at 10.96.0.10 in $(since "$t0") s"
}

# --- up ---------------------------------------------------------------------------
running_components() { local c; for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null && echo "$c"; done; return 0; }
node_ready() {
    [[ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

do_up() {
    local t_up b running
    t_up="$(now)"
    for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd etcdctl crictl; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run scripts/k8s/build.sh first"
    done
    for b in containerd runc ctr nft iptables openssl unshare ss; do
        command -v "$b" >/dev/null || die "$b is missing: run scripts/k8s/build.sh (it apt-installs it)"
    done
    for b in bridge host-local portmap firewall loopback; do
        [[ -x "$CNI_BIN_DIR/$b" ]] || die "CNI plugin $CNI_BIN_DIR/$b is missing: apt-get install containernetworking-plugins"
    done
    running="$(running_components | tr '\n' ' ')"
    if [[ "$running" == "${COMPONENTS[*]} " ]]; then
        say "cluster is already up (${COMPONENTS[*]} running); kubeconfig $ADMIN_KUBECONFIG"
        (($#)) && load_images "$@"
        return 0
    fi
    if [[ -n "$running" || -d "$STATE" ]]; then
        say "a previous cluster is partly there (running: ${running:-nothing}): tearing it down first"
        do_down
    fi

    NODE_IP="${CHAOS_K8S_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}"
    [[ -n "$NODE_IP" ]] || die "could not find the host's primary IPv4 address: set CHAOS_K8S_NODE_IP"
    local p
    for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT" 10248 10249 10250 10256 10257 10259; do
        port_busy "$p" && die "port $p is already in use on this host (see: ss -ltnp 'sport = :$p')"
    done
    ip link show "$BRIDGE" >/dev/null 2>&1 && die "a network interface $BRIDGE already exists: run '$0 down' or remove it"

    local created_parents=() d="$STATE"
    while [[ ! -e "$d" ]]; do created_parents+=("$d"); d="$(dirname "$d")"; done
    mkdir -p "$STATE" "$LOGS" "$RUN"
    chmod 700 "$STATE"
    # the state dir's ancestors that `up` creates, removed by `down` when empty
    printf '%s\n' "${created_parents[@]:1}" >"$STATE/state-parents-created"
    trap 'rc=$?; ((rc == 0)) || printf "cluster.sh: up failed; logs in %s; run \"%s down\" to clean up\n" "$LOGS" "$0" >&2' EXIT
    # What `down` must give back: host paths that do not exist yet, iptables
    # chains of our prefixes that already exist (never touched).
    : >"$STATE/host-created"
    for p in "${HOST_PATHS[@]}"; do [[ -e "$p" ]] || echo "$p" >>"$STATE/host-created"; done
    { iptables-save 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/ip4 \1/p'
      ip6tables-save 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/ip6 \1/p'; } >"$STATE/iptables-before"
    nft list tables 2>/dev/null >"$STATE/nft-before" || true
    ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/kubepods.slice >"$STATE/cgroups-before" 2>/dev/null || true
    [[ -s "$STATE/iptables-before" ]] && say "note: the host already has $(wc -l <"$STATE/iptables-before") KUBE-/CNI- iptables chains; down leaves those alone"
    echo "$NODE_IP" >"$STATE/node-ip"

    local use_tmpfs=0
    case "$TMPFS" in
        1) use_tmpfs=1 ;;
        auto) (($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) >= 4 * 1024 * 1024)) && use_tmpfs=1 ;;
    esac
    mkdir -p "$CTRD/root" "$STATE/etcd"
    if ((use_tmpfs)); then
        mount -t tmpfs -o "size=$TMPFS_SIZE,mode=0700" chaos-k8s-containerd "$CTRD/root"
        mount -t tmpfs -o size=2g,mode=0700 chaos-k8s-etcd "$STATE/etcd"
        say "tmpfs: etcd data and containerd root in memory (limit $TMPFS_SIZE; CHAOS_K8S_TMPFS=0 keeps them on disk)"
    fi
    chmod 700 "$STATE/etcd"

    say "pki: CA, component certificates and kubeconfigs in $PKI (node $NODE_NAME, IP $NODE_IP)"
    make_pki
    write_configs

    say "etcd: starting on 127.0.0.1:$ETCD_PORT"
    start_proc etcd "$BIN/etcd" --name chaos --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "chaos=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new --log-level warn
    wait_for 30 etcd "$BIN/etcdctl" --endpoints "http://127.0.0.1:$ETCD_PORT" endpoint health \
        || die "etcd is not healthy after 30 s: see $LOGS/etcd.log"

    say "kube-apiserver: starting on :$API_PORT"
    local t0; t0="$(now)"
    start_proc kube-apiserver "$BIN/kube-apiserver" \
        --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$API_PORT" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
        --allow-privileged=true --profiling=false
    wait_for 60 apiserver kubectl_admin get --raw /readyz || die "kube-apiserver not ready after 60 s: see $LOGS/kube-apiserver.log"
    say "kube-apiserver: ready in $(since "$t0") s"

    say "kube-controller-manager, kube-scheduler: starting"
    start_proc kube-controller-manager "$BIN/kube-controller-manager" \
        --kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false --profiling=false
    start_proc kube-scheduler "$BIN/kube-scheduler" \
        --kubeconfig="$STATE/scheduler.kubeconfig" \
        --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
        --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false --profiling=false

    say "containerd: starting its own instance on $SOCK"
    start_proc containerd containerd --config "$CTRD/config.toml"
    wait_for 30 containerd ctr -a "$SOCK" version || die "containerd did not answer after 30 s: see $LOGS/containerd.log"
    load_pause

    # The kubelet root: a shared bind mount, so the volume mounts the kubelet
    # makes in its own mount namespace reach containerd's (the host's).
    mount --bind "$KROOT" "$KROOT"
    mount --make-rshared "$KROOT"
    local shadow="" kv f
    for kv in "${KUBELET_SYSCTLS[@]}"; do
        f="${kv%%=*}"
        [[ -e "/proc/sys/$f" ]] || continue
        shadow+="mount --bind '$STATE/sysctl-shadow/$(echo "$f" | tr / .)' '/proc/sys/$f' && "
    done
    say "kubelet: starting in its own mount namespace (sysctls shadowed: ${KUBELET_SYSCTLS[*]})"
    t0="$(now)"
    start_proc kubelet unshare --mount --propagation unchanged -- sh -c \
        "mount --make-rprivate /proc && $shadow exec \"\$@\"" kubelet \
        "$BIN/kubelet" --config="$STATE/kubelet-config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
        --root-dir="$KROOT" --cert-dir="$PKI" --node-ip="$NODE_IP" --hostname-override="$NODE_NAME"
    say "kube-proxy: starting (nftables)"
    start_proc kube-proxy "$BIN/kube-proxy" --config="$STATE/kube-proxy-config.yaml"

    wait_for 120 node node_ready || die "node $NODE_NAME not Ready after 120 s: see $LOGS/kubelet.log"
    trap - EXIT
    say "node $NODE_NAME Ready $(since "$t0") s after the kubelet started ($(since "$t_up") s after up began)"
    deploy_dns
    (($#)) && load_images "$@"
    say "cluster up: export KUBECONFIG=$ADMIN_KUBECONFIG (context $CONTEXT); kubectl is $BIN/kubectl"
}

# --- down -------------------------------------------------------------------------
our_shims() {  # pids of containerd shims serving our containerd
    local d cmd
    for d in /proc/[0-9]*; do
        cmd="$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" || continue
        [[ "$cmd" == *containerd-shim* && "$cmd" == *"-address $SOCK "* ]] && echo "${d#/proc/}"
    done
    return 0
}
mounts_under_state() {  # mount points under $STATE, deepest first
    awk -v s="$STATE" '{ m = $5; gsub(/\\040/, " ", m); if (m == s || index(m, s "/") == 1) print m }' /proc/self/mountinfo \
        | sort -r | uniq
}
clean_iptables() {
    local fam save cmd table chain line
    for fam in ip4 ip6; do
        if [[ $fam == ip4 ]]; then save=iptables-save; cmd=iptables; else save=ip6tables-save; cmd=ip6tables; fi
        command -v "$save" >/dev/null || continue
        for table in filter nat mangle raw; do
            local ours=()
            while read -r chain; do
                grep -qxF "$fam $chain" "$STATE/iptables-before" 2>/dev/null || ours+=("$chain")
            done < <("$save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p')
            ((${#ours[@]})) || continue
            # rules that jump to one of our chains from any other chain, then our chains
            local re; re="$(printf '%s|' "${ours[@]}")"; re="${re%|}"
            while read -r line; do
                eval "$cmd -w -t $table -D ${line#-A }" 2>/dev/null || true
            done < <("$save" -t "$table" | grep -E "^-A " | grep -E -- "-[jg] ($re)( |\$)" | grep -vE "^-A ($re) ")
            for chain in "${ours[@]}"; do "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true; done
            for chain in "${ours[@]}"; do "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true; done
            say "iptables: removed ${#ours[@]} KUBE-/CNI- chains from $fam $table"
        done
    done
}

clean_nft_tables() {
    # iptables-nft tables (ip/ip6 filter, nat, mangle, raw) the run created (the
    # kubelet's canary chains, CNI plugins): deleted again once they hold no rule,
    # no chain of their own and only ACCEPT policies
    [[ -f "$STATE/nft-before" ]] || return 0
    local fam name save line
    while read -r _ fam name; do
        [[ -n "$name" ]] || continue
        grep -qxF "table $fam $name" "$STATE/nft-before" && continue
        case "$fam/$name" in ip/filter|ip/nat|ip/mangle|ip/raw|ip/security) save=iptables-save ;;
            ip6/filter|ip6/nat|ip6/mangle|ip6/raw|ip6/security) save=ip6tables-save ;; *) continue ;; esac
        line="$("$save" -t "$name" 2>/dev/null | grep -vE '^(#|\*|COMMIT$|:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT )' || true)"
        if [[ -z "$line" ]]; then
            nft delete table "$fam" "$name" && say "nftables: deleted the empty table $fam $name (created during the run)"
        else
            say "nftables: table $fam $name appeared during the run but holds rules now: left in place"
        fi
    done < <(nft list tables 2>/dev/null)
}

do_down() {
    local keep_logs="${1:-0}" pid p
    if [[ ! -d "$STATE" ]] && [[ -z "$(running_components)" ]]; then
        say "nothing to tear down (no $STATE)"
        return 0
    fi
    mkdir -p "$RUN" "$LOGS" 2>/dev/null || true
    stop_proc 20 kube-proxy kubelet
    # our sandboxes: their CNI cache entries and shim sockets are named after them
    local sandbox_ids=""
    sandbox_ids="$(ls "$CTRD/root/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null || true)"
    if ! pid_of containerd >/dev/null && [[ -f "$CTRD/config.toml" ]] \
        && [[ -S "$SOCK" || -n "$(ls -A "$CTRD/state/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null)" ]]; then
        # containerd died under live (or dead) shims: start it again, so that it
        # reconnects to them and the pods are torn down properly below
        say "containerd: not running but it left tasks behind: starting it again to tear them down"
        rm -f "$SOCK"
        start_proc containerd containerd --config "$CTRD/config.toml"
        wait_for 30 containerd ctr -a "$SOCK" version || say "containerd: WARNING it did not answer: see $LOGS/containerd.log"
    fi
    if pid_of containerd >/dev/null; then
        # pods through the CRI first: stops containers and runs CNI DEL (IPs,
        # portmap/masquerade/firewall rules, network namespaces)
        if [[ -x "$BIN/crictl" ]]; then
            local pods; pods="$("$BIN/crictl" --config "$STATE/crictl.yaml" pods -q 2>/dev/null || true)"
            if [[ -n "$pods" ]]; then
                local t0; t0="$(now)"
                # shellcheck disable=SC2086
                "$BIN/crictl" --config "$STATE/crictl.yaml" stopp $pods >>"$LOGS/down.log" 2>&1 || true
                # shellcheck disable=SC2086
                "$BIN/crictl" --config "$STATE/crictl.yaml" rmp -f $pods >>"$LOGS/down.log" 2>&1 || true
                say "pods: stopped and removed $(echo "$pods" | wc -w) pod sandboxes through the CRI in $(since "$t0") s"
            fi
        fi
        local ns id n=0
        for ns in $(ctr -a "$SOCK" namespaces ls -q 2>/dev/null); do
            for id in $(ctr -a "$SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
                ctr -a "$SOCK" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
                ctr -a "$SOCK" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
                n=$((n + 1))
            done
            for id in $(ctr -a "$SOCK" -n "$ns" containers ls -q 2>/dev/null); do
                ctr -a "$SOCK" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
            done
        done
        ((n)) && say "containerd: killed $n leftover tasks"
    fi
    stop_proc 15 containerd
    for pid in $(our_shims); do
        kill -KILL "$pid" 2>/dev/null && say "containerd: killed leftover shim pid $pid"
    done
    # a shim killed (not stopped) leaves its socket in /run/containerd/s, named
    # sha256(<containerd address>/<namespace>/<id>) by containerd 1.6
    local id h d ids="$sandbox_ids"
    for d in "$CTRD/state/io.containerd.runtime.v2.task/k8s.io"/*/; do
        [[ -d "$d" ]] && ids+=" $(basename "$d")"
    done
    for id in $ids; do
        h="$(printf '%s' "$SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
        if [[ -S "/run/containerd/s/$h" ]]; then
            rm -f "/run/containerd/s/$h" && say "containerd: removed the socket left by the shim of $id"
        fi
    done
    stop_proc 20 kube-scheduler kube-controller-manager kube-apiserver
    stop_proc 15 etcd   # after the apiserver, else that hangs on etcd for a minute

    # kube-proxy's nftables tables (and any iptables/ipvs rules of other modes)
    if [[ -x "$BIN/kube-proxy" ]] && grep -q 'kube-proxy' <<<"$(nft list tables 2>/dev/null)"; then
        local t0; t0="$(now)"
        "$BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
        say "kube-proxy: --cleanup done in $(since "$t0") s"
    fi
    local fam
    for fam in ip ip6; do
        nft list table "$fam" kube-proxy >/dev/null 2>&1 && nft delete table "$fam" kube-proxy && say "nftables: deleted table $fam kube-proxy"
    done

    # mounts under the state dir: kubelet volumes, its root bind mount, containerd's
    # rootfs, shm and netns mounts
    local m n=0
    while read -r m; do
        [[ -n "$m" ]] || continue
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        n=$((n + 1))
    done < <(mounts_under_state)
    ((n)) && say "mounts: unmounted $n mount points under $STATE"

    local t1; t1="$(now)"
    clean_iptables
    clean_nft_tables
    say "iptables/nftables: cleaned in $(since "$t1") s"
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link delete "$BRIDGE" && say "network: deleted bridge $BRIDGE"
    fi

    # cgroups (cgroup v1: one kubepods tree per controller; v2: one)
    local cg n=0
    for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/kubepods.slice; do
        [[ -d "$cg" ]] || continue
        if [[ -f "$STATE/cgroups-before" ]] && grep -qxF "$cg" "$STATE/cgroups-before"; then
            say "cgroups: $cg existed before up: left alone"
            continue
        fi
        # last resort: processes still in our pod cgroups (their runtime is gone)
        for pid in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
            kill -KILL "$pid" 2>/dev/null && say "cgroups: killed pid $pid left in $cg"
        done
        sleep 0.2
        find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        if [[ -d "$cg" ]]; then
            say "cgroups: WARNING $cg could not be removed (processes still in it?)"
        else
            n=$((n + 1))
        fi
    done
    ((n)) && say "cgroups: removed $n kubepods hierarchies"

    # host paths the run created
    if [[ -d /var/log/containers ]]; then
        find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
    fi
    if [[ -f "$STATE/host-created" ]]; then
        # deepest first; only empty directories (and our CNI cache entries) go
        while read -r p; do
            [[ -e "$p" ]] || continue
            # our CNI cache entries, the kubelet's device-plugin socket (a fixed
            # path), symlinks into the state dir; then empty directories
            if [[ "$p" == /var/lib/cni ]]; then
                find "$p" -type f -name "$CNI_NET-*" -delete 2>/dev/null
                for id in $sandbox_ids; do find "$p" -type f -name "*-$id-*" -delete 2>/dev/null; done
            fi
            find "$p" \( -type s -o \( -type l -lname "$STATE/*" \) \) -delete 2>/dev/null || true
            find "$p" -depth -type d -empty -delete 2>/dev/null || true
            if [[ -e "$p" ]]; then
                say "host: WARNING $p was created during the run and is not empty: left in place"
            else
                say "host: removed $p (created during the run)"
            fi
        done < <(sort -r "$STATE/host-created")
    fi

    local parents=()
    [[ -f "$STATE/state-parents-created" ]] && mapfile -t parents <"$STATE/state-parents-created"
    if [[ -d "$STATE" ]]; then
        [[ -z "$(mounts_under_state)" ]] || die "mounts remain under $STATE, not deleting it: $(mounts_under_state | tr '\n' ' ')"
        if ((keep_logs)); then
            find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs ! -name state-parents-created -exec rm -rf --one-file-system {} +
            say "state: removed $STATE except its logs/"
        else
            rm -rf --one-file-system "$STATE"
            say "state: removed $STATE"
            for p in "${parents[@]}"; do
                # a parent something else put files in stays, and is no failure of down
                if [[ -n "$p" ]] && rmdir "$p" 2>/dev/null; then say "state: removed $p (created by up)"; fi
            done
        fi
    fi
}

# --- status -------------------------------------------------------------------------
do_status() {
    local c pid n=0
    for c in "${COMPONENTS[@]}"; do
        if pid="$(pid_of "$c")"; then
            printf '%-24s running (pid %s)\n' "$c" "$pid"; n=$((n + 1))
        else
            printf '%-24s stopped\n' "$c"
        fi
    done
    if pid_of kube-apiserver >/dev/null; then
        if node_ready; then printf '%-24s Ready\n' "node $NODE_NAME"; else printf '%-24s not Ready\n' "node $NODE_NAME"; fi
        printf '%-24s %s (context %s)\n' kubeconfig "$ADMIN_KUBECONFIG" "$CONTEXT"
    fi
    ((n == ${#COMPONENTS[@]})) && return 0
    ((n == 0)) && return 3
    return 1
}

do_env() {
    # shellcheck disable=SC2016  # $PATH is for the shell that evaluates this output
    printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$ADMIN_KUBECONFIG" "$BIN"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    up) do_up "$@" ;;
    down)
        keep=0
        for a in "$@"; do
            case "$a" in --keep-logs) keep=1 ;; *) die "unknown option for down: $a (expected --keep-logs)" ;; esac
        done
        do_down "$keep"
        say "down: done"
        ;;
    status) do_status ;;
    load-images) (($#)) || die "usage: $0 load-images IMAGE..."; load_images "$@" ;;
    env) do_env ;;
    run)
        images=()
        while (($#)) && [[ "$1" != -- ]]; do images+=("$1"); shift; done
        [[ "${1:-}" == -- && $# -gt 1 ]] || die "usage: $0 run [IMAGE...] -- CMD..."
        shift
        (do_up "${images[@]}") || { say "up failed: tearing down what it started"; do_down 0 || true; exit 1; }
        trap 'do_down 0 >/dev/null 2>&1 || true; say "down: done"' EXIT
        trap 'exit 130' INT TERM
        eval "$(do_env)"
        status=0
        "$@" || status=$?
        exit "$status"
        ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
