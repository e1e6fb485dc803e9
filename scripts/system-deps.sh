#!/bin/sh
# What the system tests need from Debian besides Node: nginx (a real origin) and Chromium (the
# dashboard in a real browser). Installed with apt-get when missing (as root, or with sudo);
# nothing is downloaded from outside Debian's and npm's registries.
set -eu
missing=""
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -x "${REEF_CHROMIUM:-/usr/bin/chromium}" ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "reef tests need:$missing (no apt-get here: install them, or set REEF_CHROMIUM)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing$missing from Debian (apt-get)…" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
