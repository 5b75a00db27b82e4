#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (Debian, as root): headless Chromium for the report
# rendering test, Debian's packer for template validation, moto (EC2/AutoScaling emulator) and checkov.
# Idempotent: skips what is already installed.
set -euo pipefail
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v packer >/dev/null 2>&1 || need_apt+=(packer)
if ((${#need_apt[@]})); then
    echo "installing with apt: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v moto_server >/dev/null 2>&1 || pip install -q 'moto[server]'
command -v checkov >/dev/null 2>&1 || pip install -q checkov
command -v terraform >/dev/null 2>&1 || { echo "terraform is required (it is preinstalled on this machine kind)" >&2; exit 1; }
