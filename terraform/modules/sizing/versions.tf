# Provider-free on purpose: this module is pure arithmetic, so `terraform init`, `terraform validate` and
# `terraform test` run offline (no provider download).
terraform {
  required_version = ">= 1.7.0"
}
