#!/usr/bin/env bash
# Builds the open-source (MPL-2.0) Nomad used as a test fixture, and stampede-nodesim (many simulated
# client nodes in one process, tools/nomad/gomod/nodesim), from the Go module proxy with the machine's Go.
# Prints the path of the nomad binary (stampede-nodesim is beside it). Idempotent: a second call only checks.
#
#   tools/nomad/build.sh            # -> /work/.cache/nomad/v1.6.3/bin/nomad
#
# Which Nomad. The last MPL Nomad is v1.6.5 (later releases are under the BSL: never fetch or build them).
# The Go module proxy reachable from this workplace answers `403 This module version is not available` for
# github.com/hashicorp/nomad@v1.6.4 and @v1.6.5 (and for github.com/schmichael/nomad-nodesim), while it
# serves v1.6.3 (tag e0497bff1437, 2023-10-30): so this builds v1.6.3, the newest MPL Nomad we can get.
# 1.6.4 and 1.6.5 are patch releases (security and bug fixes, no scheduler or API changes we rely on).
#
# How. tools/nomad/gomod is a small wrapper module whose go.mod requires github.com/hashicorp/nomad v1.6.3,
# repeats Nomad's own replace directives (a dependency's replaces are ignored) and points the api module
# (not in Nomad's module zip) at the same commit; its go.sum pins every module. `go build` of the main
# package github.com/hashicorp/nomad from inside it, with -mod=readonly: nothing is resolved anew.
# Tags: codegen_generated (the msgpack codecs a release uses), no `ui` (the web UI is not needed) and no
# `release` (so the mock driver stays registered, as in a dev build).
# Go: the machine's Go (GOTOOLCHAIN=local; go.mod says go 1.21 so no other toolchain is fetched).
# Go >= 1.23 restricts //go:linkname pulls; -checklinkname=0 is added only if the plain link fails.
#
# Caches, keyed by version, outside the clone: ${STAMPEDE_CACHE:-/work/.cache}/nomad/v1.6.3/{gomodcache,
# gocache,bin}. The first build takes ~10-20 min on 2 cores; later calls take a second.
set -euo pipefail

NOMAD_VERSION=v1.6.3
NOMAD_COMMIT=e0497bff14378d68cad76a801cc0eba93ce05039
NOMAD_BUILD_DATE=2023-10-30T12:58:10Z

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOD="$HERE/gomod"
CACHE="${STAMPEDE_CACHE:-/work/.cache}/nomad/$NOMAD_VERSION"
BIN="$CACHE/bin"

command -v go >/dev/null || { echo "build.sh: error: go is not installed (Go >= 1.21 needed)" >&2; exit 1; }

# Stamp: what the binaries were built from (the pinned module files, the nodesim source, this script).
stamp() {
  cat "$MOD/go.mod" "$MOD/go.sum" "$HERE/build.sh" "$MOD"/nodesim/*.go | sha256sum | cut -d' ' -f1
  go env GOVERSION
}

mkdir -p "$BIN"
exec 9>"$CACHE/.lock"
flock 9 # one build at a time (parallel tests may call this)

want="$(stamp)"
if [ -x "$BIN/nomad" ] && [ -x "$BIN/stampede-nodesim" ] && [ -f "$BIN/.stamp" ] \
  && [ "$(cat "$BIN/.stamp")" = "$want" ] \
  && [[ "$("$BIN/nomad" version 2>/dev/null)" == "Nomad $NOMAD_VERSION"* ]]; then
  echo "$BIN/nomad"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=1 \
  GOMODCACHE="$CACHE/gomodcache" GOCACHE="$CACHE/gocache"
mkdir -p "$GOMODCACHE" "$GOCACHE"
ldflags="-X github.com/hashicorp/nomad/version.GitCommit=$NOMAD_COMMIT -X github.com/hashicorp/nomad/version.BuildDate=$NOMAD_BUILD_DATE"

build() { # OUT PKG
  local out="$1" pkg="$2" t0=$SECONDS
  echo "build.sh: building $pkg (Nomad $NOMAD_VERSION) into $out ..." >&2
  if ! (cd "$MOD" && go build -trimpath -tags codegen_generated -ldflags "$ldflags" -o "$out.tmp" "$pkg") 2>"$CACHE/build.err"; then
    if grep -q 'linkname' "$CACHE/build.err"; then
      echo "build.sh: link failed on //go:linkname restrictions; retrying with -checklinkname=0" >&2
      (cd "$MOD" && go build -trimpath -tags codegen_generated -ldflags "$ldflags -checklinkname=0" -o "$out.tmp" "$pkg")
    else
      cat "$CACHE/build.err" >&2
      echo "build.sh: error: go build $pkg failed" >&2
      exit 1
    fi
  fi
  mv "$out.tmp" "$out"
  echo "build.sh: built $out in $((SECONDS - t0)) s" >&2
}

build "$BIN/nomad" github.com/hashicorp/nomad
build "$BIN/stampede-nodesim" stampede/tools/nomad/nodesim

v="$("$BIN/nomad" version)"
v="${v%%$'\n'*}"
case "$v" in
  "Nomad $NOMAD_VERSION"*) ;;
  *) echo "build.sh: error: built binary says \`$v\`, expected Nomad $NOMAD_VERSION" >&2; exit 1 ;;
esac
echo "$want" >"$BIN/.stamp"
echo "$BIN/nomad"
