#!/usr/bin/env bash
# The project's one test command (see README): installs the test dependencies (including building the real
# Nomad used by the real-cluster tests, once, and OpenTofu when Terraform is missing), then runs every test
# of the workspace, including the AWS provisioning tests against moto (feature `aws`), the infrastructure
# checks (terraform/tofu fmt/test, checkov, packer validate + build against moto) and the tests against a
# real Nomad cluster on loopback (harness/tests/it/real_*.rs). Fails if anything fails.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-test-deps.sh
# (tools/infra-check.sh — terraform fmt/test, checkov, packer validate + moto build — runs inside the
# harness's `infra` integration test.)
cargo test --workspace --features stampede/aws --no-fail-fast
