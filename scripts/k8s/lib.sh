# Helpers that build.sh and coredns.sh share. Source it after setting SCRIPT (the name messages carry)
# and LOGS (where run_logged writes). Messages go to stderr: coredns.sh prints YAML on stdout.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# write_if_changed FILE < content: write FILE only when its content changes (keeps go.sum and the stamps stable).
write_if_changed() {
    local file="$1" tmp
    tmp="$(mktemp "$file.XXXX")"
    cat >"$tmp"
    if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; else mv "$tmp" "$file"; fi
}

# run_logged NAME CMD...: CMD's output in $LOGS/NAME.log, its tail shown when it fails.
run_logged() {
    local name="$1"; shift
    if ! "$@" >"$LOGS/$name.log" 2>&1; then
        tail -n 40 "$LOGS/$name.log" >&2
        die "$name failed: see $LOGS/$name.log"
    fi
}

# tidy_module DIR LABEL SOURCE: `go mod tidy` in DIR once per content of go.mod.in and SOURCE.
tidy_module() {
    local dir="$1" label="$2" source="$3" stamp sum t0
    sum="$(cat "$dir/go.mod.in" "$dir/$source" | sha256sum | cut -c1-16)"
    stamp="$dir/.tidy-$sum"
    if [[ -f "$stamp" && -f "$dir/go.sum" ]]; then
        say "$label: module $dir is ready"
        return
    fi
    say "$label: resolving and downloading modules (go mod tidy in $dir)"
    t0=$SECONDS
    cp "$dir/go.mod.in" "$dir/go.mod"
    (cd "$dir" && run_logged "tidy-$label" go mod tidy)
    rm -f "$dir"/.tidy-*
    touch "$stamp"
    say "$label: modules ready in $((SECONDS - t0)) s"
}

# save_scratch_image IMAGE TAR BINARY < Dockerfile: build IMAGE (FROM scratch, the Dockerfile on stdin,
# BINARY in its context) with Docker, save it to TAR and remove it from Docker: the tar is the copy kept.
save_scratch_image() {
    local image="$1" tar="$2" binary="$3" ctx
    ctx="$(mktemp -d)"
    cp "$binary" "$ctx/"
    cat >"$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null 2>"$ctx/err" \
        || { cat "$ctx/err" >&2; rm -rf "$ctx"; die "docker build of $image failed"; }
    docker save "$image" -o "$tar.tmp"
    mv -f "$tar.tmp" "$tar"
    docker rmi -f "$image" >/dev/null
    rm -rf "$ctx"
}
