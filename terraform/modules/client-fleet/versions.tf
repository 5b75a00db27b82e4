terraform {
  required_version = ">= 1.7.0"
  required_providers {
    # 6.x: per-resource `region`, so one module instance iterates every region with for_each.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0.0, < 7.0.0"
    }
  }
}
