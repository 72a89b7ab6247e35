#!/usr/bin/env bash
# Installs the Debian block-device clients the NBD export is tested with (and s3backer and rclone,
# the baselines of the benchmarks). Idempotent: does nothing when every tool is already there.
set -euo pipefail

tools=(nbdinfo nbdcopy nbdfuse qemu-img qemu-io qemu-nbd fio fuse2fs mkfs.ext4 e2fsck sqlite3 s3backer rclone)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-block-tools: missing ${missing[*]}; run this script as root to install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  libnbd-bin nbdfuse qemu-utils fio fuse2fs e2fsprogs sqlite3 s3backer rclone fuse3 >/dev/null
