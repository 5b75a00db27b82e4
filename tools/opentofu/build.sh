#!/usr/bin/env bash
# Builds OpenTofu (MPL-2.0) from the Go module proxy with the machine's Go, for the infrastructure checks on
# machines without Terraform (tools/infra-check.sh). Prints the binary's path. Idempotent.
#
#   tools/opentofu/build.sh        # -> ${STAMPEDE_CACHE:-/work/.cache}/opentofu/v1.10.10/bin/tofu
#
# tools/opentofu/gomod is a wrapper module: its go.mod requires github.com/opentofu/opentofu v1.10.10 and
# repeats OpenTofu's replace directive; its go.sum pins every module. Caches (module cache, build cache,
# binary) live outside the clone, keyed by version. The first build takes several minutes on 2 cores.
set -euo pipefail
export TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1

TOFU_VERSION=v1.10.10
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOD="$HERE/gomod"
CACHE="${STAMPEDE_CACHE:-/work/.cache}/opentofu/$TOFU_VERSION"
BIN="$CACHE/bin"

command -v go >/dev/null || { echo "opentofu/build.sh: error: go is not installed" >&2; exit 1; }
mkdir -p "$BIN"
exec 9>"$CACHE/.lock"
flock 9
want="$(cat "$MOD/go.mod" "$MOD/go.sum" "$HERE/build.sh" | sha256sum | cut -d' ' -f1)"
if [ -x "$BIN/tofu" ] && [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$want" ] \
  && [[ "$("$BIN/tofu" version 2>/dev/null)" == "OpenTofu $TOFU_VERSION"$'\n'* ]]; then
  echo "$BIN/tofu"
  exit 0
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
  GOMODCACHE="$CACHE/gomodcache" GOCACHE="$CACHE/gocache"
t0=$SECONDS
echo "opentofu/build.sh: building OpenTofu $TOFU_VERSION into $BIN/tofu ..." >&2
# version.dev=no: a release build (no `-dev` suffix), as OpenTofu's release process sets it.
(cd "$MOD" && go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
  -o "$BIN/tofu.tmp" github.com/opentofu/opentofu/cmd/tofu)
mv "$BIN/tofu.tmp" "$BIN/tofu"
v="$("$BIN/tofu" version)"
v="${v%%$'\n'*}"
case "$v" in
  "OpenTofu $TOFU_VERSION") ;;
  *) echo "opentofu/build.sh: error: built binary says \`$v\`, expected OpenTofu $TOFU_VERSION" >&2; exit 1 ;;
esac
echo "$want" >"$BIN/.stamp"
echo "opentofu/build.sh: built in $((SECONDS - t0)) s" >&2
echo "$BIN/tofu"
