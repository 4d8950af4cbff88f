#!/usr/bin/env bash
# Bring up (or tear down) a real Docker engine with BuildKit, buildx and a local
# registry, for stagecache's tests and for developers.
#
#   scripts/engine.sh up      install if needed, start dockerd + registry, make base images;
#                             when it starts dockerd, also one with the classic
#                             overlay2 image store, as docker context stagecache-classic
#                             (STAGECACHE_CLASSIC_ENGINE=0: not), and with
#                             STAGECACHE_TEST_ENGINES=N, N-1 more containerd-store ones for
#                             parallel test workers (contexts stagecache-w1, ...); each
#                             keeps its data under .engine/ (STAGECACHE_ENGINE_TMPFS=2g: in
#                             a tmpfs of that size, as `make test` asks)
#   scripts/engine.sh down    stop what `up` started (by pid), nothing else
#   scripts/engine.sh status  print what is running
#   scripts/engine.sh env     print the variables the tests read (KEY=VALUE lines)
#   scripts/engine.sh workers print how many parallel test workers the engines serve
#   scripts/engine.sh gcc-image  import a real Debian + gcc base image (for examples/gcc and
#                                the benchmarks; not needed by the tests). The debootstrap
#                                tarball is cached in $STAGECACHE_IMAGE_CACHE
#                                (default /var/cache/stagecache), so it is built once per machine.
#
# Idempotent: `up` twice starts nothing twice; `down` twice stops nothing twice.
# A machine that already has a working docker with buildx is used as it is: the
# script then starts only the registry (and installs only it, if missing).
# Facts behind every step are in ../shared/ENGINE.md of the project workspace.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_DIR=${STAGECACHE_ENGINE_DIR:-"$here/../.engine"}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
BASE_IMAGE_NAME=${STAGECACHE_BASE_IMAGE_NAME:-stagecache/busybox:latest}

log() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
buildx_ok() { timeout 10 docker buildx version >/dev/null 2>&1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "installing or starting dockerd needs root; run as root or start Docker yourself"
}

apt_updated=0
apt_install_trixie() {
  # Only the named packages come from trixie; every dependency stays on bookworm.
  need_root
  local src=/etc/apt/sources.list.d/stagecache-trixie.sources
  local pin=/etc/apt/preferences.d/stagecache-trixie
  if [ ! -f "$src" ]; then
    log "adding Debian trixie as a low-priority apt source"
    cat >"$src" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$pin" <<'EOF'
Package: *
Pin: release n=trixie
Pin-Priority: 100
EOF
  fi
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  local pkgs=()
  for p in "$@"; do pkgs+=("$p/trixie"); done
  log "installing ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

apt_install_bookworm() {
  need_root
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2
  shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not come up within ${secs}s"
}

# BuildKit keeps a record of every build (its history: logs, traces, provenance) for 48 hours
# by default, as content of the engine's containerd. containerd's garbage collection, which
# runs after every image delete and cache prune, walks all of that content: on an engine that
# had run the test suite (2,126 records, 12,257 blobs), deleting three images cost 1.1 s of
# containerd's CPU; on one that keeps 10 records, 0.11 s (2026-11-30, docs/engine.md). The
# engines here keep the last 10 records; older ones go after 30 s (BuildKit trims every 2 min).
BUILD_HISTORY='"builder": { "history": { "maxEntries": 10, "maxAge": "30s" } }'

# Every engine this script starts keeps its data under $STATE_DIR (the first in data/, the
# others in NAME-data/). With STAGECACHE_ENGINE_TMPFS=SIZE (`make test`: 2g), each data root is
# a tmpfs of that size (and the registry's), when all of them fit in half of the memory
# available: the tests' engines write and delete many small files (layers, snapshots, cache
# records), and on this machine's disk the engine tests of test_bake.py took
# 82 s and 105 s of CPU, on a tmpfs 54 s and 79 s (2026-11-30, docs/engine.md). `down`
# unmounts it, and with it everything the engine held.
ENGINE_TMPFS=${STAGECACHE_ENGINE_TMPFS:-}
if [ -n "$ENGINE_TMPFS" ] && ! [[ $ENGINE_TMPFS =~ ^[1-9][0-9]*[kKmMgG]?$ ]]; then
  die "STAGECACHE_ENGINE_TMPFS must be a size such as 4g (digits, then k, m or g), not '$ENGINE_TMPFS'"
fi
# Every tmpfs of every engine at its full size must fit in half of the memory available now;
# otherwise the data roots stay on disk (a tmpfs holds only what is written to it: the suite's
# engines held tens of MB each, but nothing stops a build from filling one).
tmpfs_fits() {
  local n=$1 size=${ENGINE_TMPFS%[kKmMgG]} unit=${ENGINE_TMPFS: -1} avail
  case "$unit" in k | K) ;; m | M) size=$((size * 1024)) ;; g | G) size=$((size * 1024 * 1024)) ;; *) size=$((size / 1024)) ;; esac
  avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
  [ $((n * size)) -le $((avail / 2)) ]
}
data_root() { # data_root DIR: make the data root of an engine (or of the registry) about to start
  mkdir -p "$1"
  if [ -n "$ENGINE_TMPFS" ] && [ "$(id -u)" != 0 ]; then
    log "not root: $1 stays on disk (mounting a tmpfs needs root)"
  elif [ -n "$ENGINE_TMPFS" ] && ! findmnt -rn -S stagecache-engine --mountpoint "$1" >/dev/null; then
    mount -t tmpfs -o "size=$ENGINE_TMPFS,mode=0711" stagecache-engine "$1" || die "could not mount a tmpfs at $1"
  fi
}
# Every tmpfs this script mounted under $STATE_DIR, whichever engine it was for.
unmount_tmpfs() {
  local mnt
  for mnt in $(findmnt -rn -S stagecache-engine -o TARGET | sort -r); do
    case "$mnt" in "$STATE_DIR"/*) umount "$mnt" || log "could not unmount $mnt" ;; esac
  done
}
# What is mounted at or under DIR, deepest first: a data root in a tmpfs, and what a dockerd
# that had to be killed left mounted (the classic one bind-mounts its data root).
unmount_under() { # unmount_under DIR
  local mnt
  for mnt in $(awk -v root="$1" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$mnt" 2>/dev/null || log "could not unmount $mnt"
  done
}

start_dockerd() {
  if docker_ok && buildx_ok; then
    if pid_alive "$STATE_DIR/dockerd.pid"; then
      log "dockerd already running (pid $(cat "$STATE_DIR/dockerd.pid"))"
    else
      log "using the Docker engine that is already running"
    fi
    return
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! buildx_ok; then
    apt_install_trixie docker.io docker-cli docker-buildx
  fi
  need_root
  # Our own config file, so a machine's /etc/docker/daemon.json is never touched.
  cat >"$STATE_DIR/daemon.json" <<EOF
{
  "features": { "containerd-snapshotter": true },
  $BUILD_HISTORY,
  "bridge": "none",
  "iptables": false,
  "ip6tables": false
}
EOF
  data_root "$STATE_DIR/data"
  log "starting dockerd (data root $STATE_DIR/data, log: $STATE_DIR/dockerd.log)"
  setsid dockerd --config-file "$STATE_DIR/daemon.json" --data-root "$STATE_DIR/data" \
    >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"
  wait_for 60 dockerd docker_ok
  buildx_ok || die "docker buildx is not available after installing docker-buildx"
}

registry_ok() {
  [ -f "$STATE_DIR/registry.addr" ] &&
    python3 - "$(cat "$STATE_DIR/registry.addr")" <<'EOF'
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=2).read()
EOF
}

# More engines beside the first, each the same dockerd on its own socket, data root
# (.engine/NAME-data) and exec root (/run/stagecache-NAME), with no bridge and a containerd
# of its own (no --containerd flag), registered as a docker context:
# - the classic one, with the classic overlay2 image store (no containerd-snapshotter),
#   context stagecache-classic: where the legacy builder's users run (ENGINE.md: on the
#   containerd store it fails to restore an empty cached layer);
# - with STAGECACHE_TEST_ENGINES=N, N-1 more with the containerd store, contexts
#   stagecache-w1.., one for each parallel test worker after the first (which uses the
#   first engine): the engine tests prune a builder's cache, so no two workers share one.
CLASSIC_CONTEXT=${STAGECACHE_CLASSIC_CONTEXT:-stagecache-classic}
TEST_ENGINES=${STAGECACHE_TEST_ENGINES:-1}
case "$TEST_ENGINES" in '' | *[!0-9]* | 0) die "STAGECACHE_TEST_ENGINES must be a number from 1 up, not '$TEST_ENGINES'" ;; esac
engine_ok() { timeout 10 docker --context "$1" info >/dev/null 2>&1; }
engine_desc() { # engine_desc NAME: the description that marks a context as this script's
  if [ "$1" = classic ]; then echo "stagecache's classic-store engine"; else echo "stagecache's test engine $1"; fi
}
engine_context() { if [ "$1" = classic ]; then echo "$CLASSIC_CONTEXT"; else echo "stagecache-$1"; fi; }
# Whether a context is this script's (a user's own context of that name is never touched).
context_ours() { # context_ours CONTEXT DESCRIPTION
  docker context ls --format '{{.Name}}|{{.Description}}' 2>/dev/null | grep -qxF "$1|$2"
}

start_engine() { # start_engine NAME (classic | wN)
  local name=$1 ctx desc run
  ctx=$(engine_context "$name")
  desc=$(engine_desc "$name")
  run=/run/stagecache-$name
  if pid_alive "$STATE_DIR/$name.pid" && engine_ok "$ctx"; then
    log "engine $name already running (pid $(cat "$STATE_DIR/$name.pid"), context $ctx)"
    return
  fi
  need_root
  if docker context inspect "$ctx" >/dev/null 2>&1 && ! context_ours "$ctx" "$desc"; then
    die "a docker context named $ctx exists and is not this script's; remove it (docker context rm $ctx) or, for the classic engine, set STAGECACHE_CLASSIC_CONTEXT to another name"
  fi
  mkdir -p "$run/exec"
  data_root "$STATE_DIR/$name-data"
  local store='"containerd-snapshotter": true }'
  [ "$name" = classic ] && store='"containerd-snapshotter": false },
  "storage-driver": "overlay2"'
  cat >"$STATE_DIR/$name.json" <<JSON
{
  "features": { $store,
  $BUILD_HISTORY,
  "bridge": "none",
  "iptables": false,
  "ip6tables": false
}
JSON
  log "starting engine $name (log: $STATE_DIR/$name.log)"
  setsid dockerd --config-file "$STATE_DIR/$name.json" --data-root "$STATE_DIR/$name-data" \
    --exec-root "$run/exec" --pidfile "$run/docker.pid" -H "unix://$run/docker.sock" \
    >"$STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/$name.pid"
  local said
  if context_ours "$ctx" "$desc"; then
    said=$(docker context update "$ctx" --docker "host=unix://$run/docker.sock" 2>&1) || die "$said"
  else
    said=$(docker context create "$ctx" --description "$desc" --docker "host=unix://$run/docker.sock" 2>&1) || die "$said"
  fi
  wait_for 60 "engine $name" engine_ok "$ctx"
}

# The engines this script started besides the first (classic, w1, ...), from their pid files.
other_engines() {
  local f
  for f in "$STATE_DIR"/classic.pid "$STATE_DIR"/w[0-9]*.pid; do
    [ -f "$f" ] && basename "$f" .pid
  done
  return 0
}

# Those of them that run, and the test engines among those (w1, ...).
running_engines() {
  local name
  for name in $(other_engines); do
    pid_alive "$STATE_DIR/$name.pid" && echo "$name"
  done
  return 0
}
running_test_engines() { running_engines | grep -x 'w[0-9]*' || true; }

stop_engine() { # stop_engine NAME
  local ctx
  ctx=$(engine_context "$1")
  stop_pidfile "$1"
  unmount_under "$STATE_DIR/$1-data"
  if context_ours "$ctx" "$(engine_desc "$1")"; then docker context rm -f "$ctx" >/dev/null 2>&1 || true; fi
}

# Images of the first engine, on another one too (docker save | docker load).
copy_to() { # copy_to CONTEXT IMAGE...
  local ctx=$1 missing=()
  shift
  local image
  for image in "$@"; do
    docker --context "$ctx" image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
  done
  [ ${#missing[@]} = 0 ] || docker save "${missing[@]}" | docker --context "$ctx" load -q >/dev/null
}

start_registry() {
  if pid_alive "$STATE_DIR/registry.pid" && registry_ok; then
    log "registry already running on $(cat "$STATE_DIR/registry.addr")"
    return
  fi
  command -v docker-registry >/dev/null 2>&1 || apt_install_trixie docker-registry
  local port addr
  port=$(free_port)
  addr="127.0.0.1:$port"
  data_root "$STATE_DIR/registry-data" # a tmpfs too with STAGECACHE_ENGINE_TMPFS
  cat >"$STATE_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry-data
  delete:
    enabled: true
http:
  addr: $addr
EOF
  echo "$addr" >"$STATE_DIR/registry.addr"
  log "starting registry on $addr"
  setsid docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/registry.pid"
  wait_for 30 registry registry_ok
}

make_base_image() {
  local addr
  addr=$(cat "$STATE_DIR/registry.addr")
  if ! docker image inspect "$BASE_IMAGE_NAME" >/dev/null 2>&1; then
    # ldd fails on a static binary: with pipefail its status must not count, only grep's.
    [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && { ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic' ||
      apt_install_bookworm busybox-static
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
      [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    log "importing $BASE_IMAGE_NAME from busybox-static"
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$BASE_IMAGE_NAME" >/dev/null
    rm -rf "$root"
  fi
  # The same image in the local registry, so `FROM REGISTRY/...` resolves on a
  # pruned engine and on docker-container builders that cannot see local images.
  local remote="$addr/$BASE_IMAGE_NAME"
  docker tag "$BASE_IMAGE_NAME" "$remote"
  docker push -q "$remote" >/dev/null
  echo "$remote" >"$STATE_DIR/base-image"
  local name
  for name in $(running_engines); do
    if [ "$name" = classic ]; then
      copy_to "$CLASSIC_CONTEXT" "$BASE_IMAGE_NAME"
    else
      copy_to "$(engine_context "$name")" "$BASE_IMAGE_NAME" "$remote"
    fi
  done
}

GCC_IMAGE_NAME=${STAGECACHE_GCC_IMAGE_NAME:-stagecache/debian-gcc:bookworm}
make_gcc_image() {
  local cache=${STAGECACHE_IMAGE_CACHE:-/var/cache/stagecache}
  local tarball="$cache/bookworm-gcc-minbase.tar"
  local addr
  addr=$(cat "$STATE_DIR/registry.addr")
  if ! docker image inspect "$GCC_IMAGE_NAME" >/dev/null 2>&1; then
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null 2>&1 || apt_install_bookworm debootstrap
      need_root
      mkdir -p "$cache"
      local root
      root=$(mktemp -d)
      log "debootstrap bookworm minbase + gcc into $root (takes a minute or two)"
      debootstrap --variant=minbase --include=gcc,libc6-dev bookworm "$root" http://deb.debian.org/debian >"$STATE_DIR/debootstrap.log" 2>&1 ||
        die "debootstrap failed; see $STATE_DIR/debootstrap.log"
      rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
      # Write then rename, so an interrupted run never leaves a truncated tarball behind.
      tar -C "$root" --numeric-owner -cf "$tarball.part" .
      mv "$tarball.part" "$tarball"
      rm -rf "$root"
    fi
    log "importing $GCC_IMAGE_NAME from $tarball"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["/bin/bash"]' \
      "$tarball" "$GCC_IMAGE_NAME" >/dev/null
  fi
  docker tag "$GCC_IMAGE_NAME" "$addr/$GCC_IMAGE_NAME"
  docker push -q "$addr/$GCC_IMAGE_NAME" >/dev/null
  if pid_alive "$STATE_DIR/classic.pid"; then
    copy_to "$CLASSIC_CONTEXT" "$GCC_IMAGE_NAME"
  fi
  log "gcc image: $GCC_IMAGE_NAME (and $addr/$GCC_IMAGE_NAME)"
}

print_env() {
  [ -f "$STATE_DIR/registry.addr" ] || die "engine is not up (run: scripts/engine.sh up)"
  echo "STAGECACHE_TEST_REGISTRY=$(cat "$STATE_DIR/registry.addr")"
  echo "STAGECACHE_TEST_BASE_IMAGE=$(cat "$STATE_DIR/base-image" 2>/dev/null || echo "$BASE_IMAGE_NAME")"
  echo "STAGECACHE_TEST_LOCAL_BASE_IMAGE=$BASE_IMAGE_NAME"
  local name workers=()
  pid_alive "$STATE_DIR/classic.pid" && echo "STAGECACHE_TEST_CLASSIC_CONTEXT=$CLASSIC_CONTEXT"
  for name in $(running_test_engines); do workers+=("$(engine_context "$name")"); done
  # The engines of test workers gw1, gw2, ... (gw0 uses the first one), comma-separated.
  if [ ${#workers[@]} -gt 0 ]; then
    local IFS=,
    echo "STAGECACHE_TEST_WORKER_CONTEXTS=${workers[*]}"
  fi
}

stop_pidfile() { # stop_pidfile NAME
  local f="$STATE_DIR/$1.pid"
  if pid_alive "$f"; then
    local pid
    pid=$(cat "$f")
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do # what it had mounted is free once it is gone
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$f"
}

case "${1:-}" in
  up)
    # The tmpfs this `up` may mount: the registry's, and the engines' it may start.
    mounts=$((1 + TEST_ENGINES))
    [ "${STAGECACHE_CLASSIC_ENGINE:-1}" = 1 ] && mounts=$((mounts + 1))
    if [ -n "$ENGINE_TMPFS" ] && ! tmpfs_fits "$mounts"; then
      log "$mounts tmpfs of $ENGINE_TMPFS (engines and registry) do not fit in half of the available memory: data on disk"
      ENGINE_TMPFS=
    fi
    start_dockerd
    if pid_alive "$STATE_DIR/dockerd.pid"; then
      [ "${STAGECACHE_CLASSIC_ENGINE:-1}" = 1 ] && start_engine classic
      for ((n = 1; n < TEST_ENGINES; n++)); do start_engine "w$n"; done
      # Test engines beyond the number asked for (from an earlier `up` that asked for more)
      # are stopped; an `up` that does not ask (make demo, make engine-up) leaves them.
      if [ -n "${STAGECACHE_TEST_ENGINES:-}" ]; then
        for name in $(other_engines); do
          case "$name" in w[0-9]*) [ "${name#w}" -lt "$TEST_ENGINES" ] || stop_engine "$name" ;; esac
        done
      fi
    elif [ "$TEST_ENGINES" -gt 1 ]; then
      log "STAGECACHE_TEST_ENGINES=$TEST_ENGINES: more engines start only beside a dockerd this script starts; the tests run on one"
    fi
    start_registry
    make_base_image
    print_env >"$STATE_DIR/env"
    log "up: $(docker version --format 'dockerd {{.Server.Version}}') / $(docker buildx version | cut -d' ' -f2) / registry $(cat "$STATE_DIR/registry.addr")"
    ;;
  down)
    # The registry-addressed tag of the base image names a registry that is about to stop
    # (and whose port the next `up` picks anew): untag it, the image itself stays.
    if [ -f "$STATE_DIR/base-image" ] && docker_ok; then
      docker image rm "$(cat "$STATE_DIR/base-image")" >/dev/null 2>&1 || true
      for name in $(running_test_engines); do
        docker --context "$(engine_context "$name")" image rm "$(cat "$STATE_DIR/base-image")" >/dev/null 2>&1 || true
      done
    fi
    stop_pidfile registry
    for name in $(other_engines); do stop_engine "$name"; done
    stop_pidfile dockerd
    unmount_under "$STATE_DIR/data"
    unmount_tmpfs
    rm -f "$STATE_DIR/registry.addr" "$STATE_DIR/env" "$STATE_DIR/base-image"
    ;;
  status)
    if pid_alive "$STATE_DIR/dockerd.pid"; then echo "dockerd: running (pid $(cat "$STATE_DIR/dockerd.pid"))"
    elif docker_ok; then echo "dockerd: running (not started by this script)"
    else echo "dockerd: not running"; fi
    if pid_alive "$STATE_DIR/classic.pid"; then echo "classic-store dockerd: running (pid $(cat "$STATE_DIR/classic.pid"), context $CLASSIC_CONTEXT)"
    else echo "classic-store dockerd: not running"; fi
    for name in $(running_test_engines); do
      echo "test engine $name: running (pid $(cat "$STATE_DIR/$name.pid"), context $(engine_context "$name"))"
    done
    if pid_alive "$STATE_DIR/registry.pid"; then echo "registry: running on $(cat "$STATE_DIR/registry.addr")"
    else echo "registry: not running"; fi
    ;;
  env) print_env ;;
  workers)
    # How many pytest-xdist workers the running engines serve: one per engine, the first
    # included (1 on a machine whose docker this script did not start).
    echo $((1 + $(running_test_engines | wc -l)))
    ;;
  gcc-image)
    start_dockerd
    start_registry
    make_gcc_image
    ;;
  *)
    echo "usage: $0 up|down|status|env|workers|gcc-image" >&2
    exit 2
    ;;
esac
