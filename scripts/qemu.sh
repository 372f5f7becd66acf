#!/usr/bin/env bash
# Let this x86 machine run (and so build) linux/arm64 images: Debian's qemu-user-static
# registered with the kernel's binfmt_misc for aarch64 binaries, with the F ("fix binary")
# flag, so the interpreter is opened once here and works inside any container's root too.
# Idempotent and quick when already done; prints one line saying what it found or did.
#
# Usage: scripts/qemu.sh            (needs root, or sudo, the first time)
set -euo pipefail

BINFMT=/proc/sys/fs/binfmt_misc
HANDLER="$BINFMT/qemu-aarch64"
QEMU=/usr/bin/qemu-aarch64-static

log() { printf 'qemu: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

case "$(uname -m)" in
    aarch64 | arm64) log "this machine is arm64: nothing to emulate"; exit 0 ;;
esac

if ! dpkg -s qemu-user-static binfmt-support >/dev/null 2>&1; then
    log "apt-get install qemu-user-static binfmt-support"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        qemu-user-static binfmt-support >/dev/null
fi
[ -x "$QEMU" ] || die "$QEMU is missing after installing qemu-user-static"

# A container (or a machine without systemd) may start with binfmt_misc not mounted.
if [ ! -e "$BINFMT/register" ]; then
    $sudo mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc at $BINFMT"
fi

# Debian's registration (binfmt-support's update-binfmts) carries the F flag; register by hand
# only if that did not happen (binfmt-support's service never ran, e.g. no init system).
if [ ! -e "$HANDLER" ]; then
    $sudo update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
if [ ! -e "$HANDLER" ]; then
    magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    printf ':qemu-aarch64:M::%s:%s:%s:OCF\n' "$magic" "$mask" "$QEMU" | $sudo tee "$BINFMT/register" >/dev/null
fi
grep -qx enabled "$HANDLER" || die "$HANDLER is registered but disabled"
flags="$(sed -n 's/^flags: //p' "$HANDLER")"
[[ "$flags" == *F* ]] || die "$HANDLER lacks the F flag (flags: '$flags'): containers would not find $QEMU"
log "aarch64 binaries run through $(sed -n 's/^interpreter //p' "$HANDLER") (flags $flags)"
