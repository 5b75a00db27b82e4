#!/usr/bin/env bash
# The project's one test command (see README): installs the test dependencies, then runs every test of
# the workspace, including the AWS provisioning tests against moto (feature `aws`) and the infrastructure
# checks (terraform fmt/test, checkov, packer validate + build against moto). Fails if anything fails.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-test-deps.sh
# (tools/infra-check.sh — terraform fmt/test, checkov, packer validate + moto build — runs inside the
# harness's `infra` integration test.)
cargo test --workspace --features stampede/aws --no-fail-fast
