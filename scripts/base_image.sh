#!/usr/bin/env bash
# Make NAME:TAG present for the Dockerfile's FROM line: `docker pull` it when its
# registry answers (the real image, so sizes describe what users get), and only when
# none does, build a Debian stand-in locally and tag it with that exact name, so the
# Dockerfile builds unchanged. It says which it did; a stand-in carries the label
# byoc.base-image=stand-in, which scripts and reports read back.
#
# Usage: scripts/base_image.sh [--force] [--platform linux/arm64] NAME:TAG [SUITE]
#   NAME:TAG  e.g. debian:trixie-slim, debian:bookworm, debian:13-slim, my/base:1
#   SUITE     Debian suite to debootstrap. Default: inferred from the tag when NAME
#             is debian (debian:<suite>[-slim], debian:<version>[-slim]), else trixie.
#   --force   pull or rebuild even if NAME:TAG already exists.
#   --platform linux/arm64 (on an x86 machine): a stand-in for that architecture, tagged
#             NAME:TAG-arm64, since Docker 20.10 keeps one image per name and NAME:TAG is
#             the native one. Never pulled; debootstrap's second stage runs under QEMU
#             (scripts/qemu.sh registers it).
#
# Environment:
#   DEBIAN_MIRROR   default http://deb.debian.org/debian (plain http: apt needs no CA)
#   BASE_IMAGE_TMP  where the temporary rootfs is made (default ${TMPDIR:-/tmp})
#
# Needs root, debootstrap and a running engine (scripts/docker_engine.sh gives both).
set -euo pipefail

DEFAULT_SUITE=trixie
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORKDIR="${BASE_IMAGE_TMP:-${TMPDIR:-/tmp}}"
LOCKFILE=/tmp/byoc-base-image.lock

log() { printf 'base_image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,24p' "$0" >&2; exit "${1:-2}"; }

force=0
platform=""
positional=()
while (($#)); do
    arg="$1"
    shift
    case "$arg" in
        -f | --force) force=1 ;;
        -h | --help) usage 0 ;;
        --platform) platform="${1:-}"; shift || true ;;
        --platform=*) platform="${arg#*=}" ;;
        -*) log "unknown option: $arg"; usage ;;
        *) positional+=("$arg") ;;
    esac
done
((${#positional[@]} >= 1 && ${#positional[@]} <= 2)) || usage
native="$(dpkg --print-architecture)"
arch="${platform#linux/}"
arch="${arch:-$native}"
[[ "$arch" == amd64 || "$arch" == arm64 ]] || die "--platform must be linux/amd64 or linux/arm64, not '$platform'"

image="${positional[0]}"
suite_arg="${positional[1]:-}"

# ---- work out the suite -----------------------------------------------------
# Split NAME[:TAG]; a ':' before the last '/' belongs to a registry host:port.
name="$image" tag=latest
if [[ "${image##*/}" == *:* ]]; then
    name="${image%:*}"
    tag="${image##*:}"
    image="$name:$tag"
else
    image="$name:latest"
fi
foreign=0
if [[ "$arch" != "$native" ]]; then
    foreign=1
    image="$image-$arch"  # the native image keeps NAME:TAG
fi
[[ "$name" != *@* ]] || die "digest references cannot be built: $image"
# Validate before spending a debootstrap on a name `docker import` would refuse.
name_re='^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$'
[[ "$name" =~ $name_re && "${image##*:}" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] \
    || die "invalid image reference '$image'"
short="${name#docker.io/}"
short="${short#library/}"

suite_from_version() {
    case "$1" in
        10) echo buster ;;
        11) echo bullseye ;;
        12) echo bookworm ;;
        13) echo trixie ;;
        14) echo forky ;;
        *) return 1 ;;
    esac
}

inferred=""
case "$short" in
    ubuntu | ubuntu/*)
        die "'$image' is an Ubuntu image: only Debian suites can be built offline here (Debian's archive is the only one reachable). Use a debian:<suite>-slim base in the Dockerfile." ;;
    debian)
        t="${tag%-slim}"
        t="${t%%-[0-9]*}"      # debian:trixie-20250101-slim -> trixie
        t="${t%%.*}"           # debian:12.5 -> 12
        if [[ "$t" == latest ]]; then
            inferred="$DEFAULT_SUITE"
        elif [[ "$t" =~ ^[0-9]+$ ]]; then
            inferred="$(suite_from_version "$t")" || die "unknown Debian version in tag '$tag'"
        elif [[ "$t" =~ ^[a-z]+$ ]]; then
            inferred="$t"
        else
            die "cannot infer a Debian suite from tag '$tag'; pass SUITE explicitly"
        fi
        ;;
esac
if [[ -n "$suite_arg" ]]; then
    suite="$suite_arg"
    if [[ -n "$inferred" && "$inferred" != "$suite" ]]; then
        log "WARNING: tag '$tag' suggests suite '$inferred' but SUITE '$suite' was given: using '$suite'"
    fi
else
    suite="${inferred:-$DEFAULT_SUITE}"
fi
[[ "$suite" =~ ^[a-z]+$ ]] || die "bad suite name '$suite'"

# ---- preconditions ------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap)"
command -v docker >/dev/null 2>&1 || die "no docker client on PATH: run scripts/docker_engine.sh first"
timeout 15 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 \
    || die "the Docker engine does not answer: run scripts/docker_engine.sh first"
command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap is not installed: run scripts/docker_engine.sh (installs it) or apt-get install debootstrap"
if ((foreign)) && ! grep -qsx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    die "$arch binaries cannot run here: run scripts/qemu.sh first (QEMU for debootstrap's second stage)"
fi

# Serialise concurrent builds (two callers building the same base at once).
exec 9>"$LOCKFILE"
flock -w 900 9 || die "could not take $LOCKFILE"

origin() {  # what the present NAME:TAG is: pulled, or this script's stand-in
    if [[ "$(docker image inspect -f '{{index .Config.Labels "byoc.base-image"}}' "$1" 2>/dev/null)" == stand-in ]]; then
        echo "a local stand-in built by this script"
    else
        echo "from a registry"
    fi
}

if ((!force)) && docker image inspect "$image" >/dev/null 2>&1; then
    log "$image already present ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec), $(origin "$image")): nothing to do (--force pulls or rebuilds)"
    exit 0
fi

# The real image first. No registry here answers, and a pull that cannot connect fails in
# seconds; BASE_IMAGE_PULL=0 skips it. A foreign architecture is never pulled: a registry
# that has it serves the builder directly.
if [[ "${BASE_IMAGE_PULL:-1}" != 0 ]] && ((!foreign)); then
    if pulled="$(timeout "${BASE_IMAGE_PULL_SECONDS:-120}" docker pull -q "$image" 2>&1)"; then
        log "pulled $image from its registry ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
        exit 0
    fi
    log "could not pull $image ($(printf '%s' "$pulled" | tail -n 1 | cut -c1-160)): building a local stand-in"
fi

# With --force, remember the image being replaced so it does not linger untagged.
old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"

# ---- build the rootfs -----------------------------------------------------------
mkdir -p "$WORKDIR"
rootfs="$(mktemp -d "$WORKDIR/byoc-rootfs.XXXXXX")"
bootlog="$rootfs.log"

cleanup() {
    local rc=$? m
    # debootstrap mounts proc/sys inside the target and may leave them mounted when
    # it fails: unmount everything below the rootfs before deleting it, and never
    # let rm cross into another filesystem.
    if [[ -n "${rootfs:-}" && -d "$rootfs" ]]; then
        while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done < <(awk -v r="$rootfs" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r)
        rm -rf --one-file-system "$rootfs"
        rm -rf "$rootfs.context"  # the foreign architecture's build context
    fi
    rm -f "${bootlog:-}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "debootstrap --arch=$arch --variant=minbase $suite $rootfs $MIRROR"
t0=$SECONDS
# For a foreign architecture debootstrap runs its second stage (the packages' scripts) in a
# chroot, through the kernel's binfmt handler: QEMU, slower, about a minute.
if ! debootstrap --arch="$arch" --variant=minbase "$suite" "$rootfs" "$MIRROR" >"$bootlog" 2>&1; then
    tail -n 30 "$bootlog" >&2 || true
    [[ -f "$rootfs/debootstrap/debootstrap.log" ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (is '$suite' a Debian suite on $MIRROR?)"
fi
t_boot=$((SECONDS - t0))

# CA certificates: pip/curl inside `docker build` only reach PyPI through this
# network's TLS proxy if the image trusts the host's CAs. Copy the extra CAs into
# the image's local-CA folder (survives a later update-ca-certificates, e.g. when
# a Dockerfile installs ca-certificates) and the host's bundle over the image's.
mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
shopt -s nullglob
extra_cas=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
if ((${#extra_cas[@]})); then
    cp -f "${extra_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
fi
if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
    cp -f /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
else
    log "WARNING: host has no /etc/ssl/certs/ca-certificates.crt: TLS inside builds may fail"
fi

# Container-friendly configuration, as in Debian's official images (debuerreotype):
# no service starts during apt-get install in a build, apt caches cleaned after
# each install, and (slim) no docs/man pages/locales installed.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Do not start services during package installation inside images.
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
    >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Slim image: keep copyright files, drop docs, man/info pages and translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Apply the same exclusions to what debootstrap already installed.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/groff/"* "$rootfs/usr/share/info/"* \
    "$rootfs/usr/share/lintian/"* "$rootfs/usr/share/linda/"*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true

# Clean caches and host-specific files (docker provides resolv.conf/hosts/hostname
# at run time); the image's apt lists are fetched by `apt-get update` in builds.
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin \
    "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/cache/apt/archives/partial/"* \
    "$rootfs/var/cache/debconf/"*-old "$rootfs/var/lib/dpkg/"*-old \
    "$rootfs/var/log/"*.log "$rootfs/var/log/apt/"* "$rootfs/tmp/"* "$rootfs/debootstrap"
mkdir -p "$rootfs/var/lib/apt/lists/partial"
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
if [[ -e "$rootfs/etc/machine-id" ]]; then : >"$rootfs/etc/machine-id"; fi

# ---- import ---------------------------------------------------------------------
log "importing $rootfs as $image"
t1=$SECONDS
if ((!foreign)); then
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -c . \
        | docker import \
            --change 'CMD ["bash"]' \
            --change 'LABEL byoc.base-image=stand-in' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --message "debootstrap --variant=minbase $suite $MIRROR (scripts/base_image.sh)" \
            - "$image" >/dev/null
else
    # `docker import` on Docker 20.10 records the engine's architecture whatever --platform
    # says; a build FROM scratch for the platform records the right one. ADD unpacks the
    # tarball with its owners and modes.
    context="$rootfs.context"
    mkdir -p "$context"
    tar --numeric-owner -C "$rootfs" -cf "$context/rootfs.tar" .
    cat >"$context/Dockerfile" <<'EOF'
FROM scratch
ADD rootfs.tar /
LABEL byoc.base-image=stand-in
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
EOF
    built=0
    docker build -q --platform "linux/$arch" -t "$image" "$context" >/dev/null 2>"$bootlog" && built=1
    rm -rf "$context"
    ((built)) || { cat "$bootlog" >&2; die "docker build of the $arch stand-in failed"; }
fi
t_import=$((SECONDS - t1))

if [[ -n "$old_id" && "$old_id" != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
    # Fails harmlessly when still used (other tags, containers, child images).
    if docker rmi "$old_id" >/dev/null 2>&1; then
        log "removed the replaced image ${old_id:7:12}"
    else
        log "kept the replaced image ${old_id:7:12} (still in use)"
    fi
fi

size="$(docker image inspect -f '{{.Size}}' "$image")"
log "built $image as a local stand-in from Debian '$suite' ($arch): debootstrap ${t_boot}s, import ${t_import}s"
echo "$image size: $(numfmt --to=iec "$size") ($size bytes)"
