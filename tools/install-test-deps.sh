#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (Debian, as root): headless Chromium for the report
# rendering test, Debian's packer for template validation, moto (EC2/AutoScaling emulator) and checkov,
# the real Nomad the real-cluster tests run (tools/nomad/build.sh: built from the Go module proxy once,
# cached by version under ${STAMPEDE_CACHE:-/work/.cache}/nomad/), and OpenTofu when Terraform is missing
# (or when STAMPEDE_FORCE_TOFU=1): tools/opentofu/build.sh, from the Go module proxy likewise.
# Idempotent: skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v packer >/dev/null 2>&1 || need_apt+=(packer)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if ((${#need_apt[@]})); then
    echo "installing with apt: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v moto_server >/dev/null 2>&1 || pip install -q 'moto[server]'
command -v checkov >/dev/null 2>&1 || pip install -q checkov
command -v go >/dev/null 2>&1 || { echo "go (>= 1.21) is required to build the Nomad test fixture (it is preinstalled on this machine kind)" >&2; exit 1; }
nomad_bin="$(tools/nomad/build.sh)"
echo "nomad test fixture: $nomad_bin"
if [ "${STAMPEDE_FORCE_TOFU:-0}" = 1 ] || ! command -v terraform >/dev/null 2>&1; then
    tofu_bin="$(tools/opentofu/build.sh)"
    echo "terraform is not installed (or STAMPEDE_FORCE_TOFU=1): the infrastructure checks use OpenTofu: $tofu_bin"
fi
