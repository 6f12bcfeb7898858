#!/usr/bin/env bash
# Installs the real programs the test suite runs against (Debian packages).
# As root it installs whatever is missing; otherwise it prints the command.
set -euo pipefail
pkgs=(haproxy vsftpd inetutils-telnetd openssh-server socat s3270 hercules tmux curl chromium libnss3-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test peers: all installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "test peers missing: ${missing[*]}"
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  echo "(tests that need them will skip locally; under CI=true they fail)"
  exit 0
fi
echo "installing test peers: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Installing must not leave daemons running on the machine's ports.
for svc in haproxy vsftpd ssh inetutils-inetd; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "test peers: installed"
