#!/usr/bin/env bash
# Checks the infrastructure code; fails on any failure. Installs what it needs (apt-get / pip).
# Runs Terraform, or OpenTofu (MPL-2.0, built from the Go module proxy by tools/opentofu/build.sh) when
# `terraform` is not installed or STAMPEDE_FORCE_TOFU=1: the same checks either way, none skipped.
#   1. terraform fmt -check over terraform/
#   2. the provider-free sizing module: terraform init + validate + test, offline
#   3. checkov over terraform/ (skips are justified in comments next to the resources)
#   4. packer fmt -check + packer validate (Debian's packer 1.6.6, after stripping the `packer {}` block it
#      does not know) + the API-only build against moto_server on a free loopback port
# Usage: tools/infra-check.sh   (from anywhere; CI=true is fine)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
MOTO_PID=""
cleanup() {
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
PASSED=0
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---- tools ----
if [ "${STAMPEDE_FORCE_TOFU:-0}" = 1 ] || ! command -v terraform >/dev/null; then
  TF="$("$ROOT/tools/opentofu/build.sh")" || { echo "error: terraform is not installed and building OpenTofu failed" >&2; exit 1; }
else
  TF="$(command -v terraform)"
fi
command -v packer >/dev/null || apt_install packer
command -v checkov >/dev/null || python3 -m pip install -q checkov
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
command -v curl >/dev/null || apt_install curl
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
echo "infrastructure checks with: $("$TF" version | head -1) ($TF)"

# ---- terraform ----
step "$(basename "$TF") fmt -check"
"$TF" -chdir="$ROOT/terraform" fmt -check -recursive -diff
pass "terraform fmt"

step "sizing module: init + validate + test (offline, no provider)"
cp -r "$ROOT/terraform/modules/sizing" "$WORK/sizing"
"$TF" -chdir="$WORK/sizing" init -input=false -backend=false >/dev/null
"$TF" -chdir="$WORK/sizing" validate
"$TF" -chdir="$WORK/sizing" test
pass "sizing module"

step "checkov"
checkov -d "$ROOT/terraform" --framework terraform --compact --quiet --skip-download
pass "checkov"

# ---- packer ----
step "packer fmt + validate"
mkdir -p "$WORK/packer"
cp -r "$ROOT/packer/files" "$ROOT/packer/scripts" "$WORK/packer/"
python3 - "$ROOT/packer/nomad.pkr.hcl" "$WORK/packer/nomad.pkr.hcl" <<'PY'
# Packer 1.6.6 (Debian) predates the `packer { required_plugins {...} }` block: drop it (balanced braces).
import sys
s = open(sys.argv[1]).read()
i = s.find("\npacker {")
if i < 0:
    sys.exit("no `packer {` block found in " + sys.argv[1])
i += 1
depth, j = 0, i
while True:
    if s[j] == "{":
        depth += 1
    elif s[j] == "}":
        depth -= 1
        if depth == 0:
            break
    j += 1
open(sys.argv[2], "w").write(s[:i] + s[j + 1:])
PY
packer fmt -check "$WORK/packer"
packer validate "$WORK/packer"
packer validate -var role=server -var nomad_binary="$WORK/packer/files/nomad.service" "$WORK/packer"
bash -n "$ROOT/packer/scripts/install.sh" "$ROOT/packer/files/stampede-prepull" "$ROOT/packer/files/stampede-spot-watch"
pass "packer validate"

step "packer build (API only) against moto"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null || { cat "$WORK/moto.log"; echo "error: moto_server did not start" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
SRC_AMI="$(python3 - "$PORT" <<'PY'
import sys, boto3
c = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
print(sorted(i["ImageId"] for i in c.describe_images(Owners=["amazon"])["Images"])[0])
PY
)"
(cd "$WORK/packer" && packer build -color=false -only='emulator.*' \
  -var ec2_endpoint="http://127.0.0.1:$PORT" -var source_ami="$SRC_AMI" -var run_id=infra-check .) | tee "$WORK/build.log"
grep -q 'AMIs were created' "$WORK/build.log"
python3 - "$PORT" <<'PY'
import sys, boto3
c = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
imgs = c.describe_images(Owners=["self"])["Images"]
names = [i["Name"] for i in imgs]
assert any(n.startswith("stampede-apicheck-client-") for n in names), names
tags = {t["Key"]: t["Value"] for i in imgs for t in i.get("Tags", [])}
assert tags.get("stampede:role") == "client", tags
live = [i["InstanceId"] for r in c.describe_instances()["Reservations"] for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")]
assert not live, f"packer left instances running: {live}"
print(f"AMI {imgs[0]['ImageId']} {names[0]} tags={tags}; no instance left running")
PY
pass "packer build against moto"

printf '\n%d passed, 0 failed\n' "$PASSED"
