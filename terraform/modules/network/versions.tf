terraform {
  required_version = ">= 1.7.0"
  required_providers {
    # 6.x: every resource and data source takes a `region` argument, so one provider serves every region and
    # the modules iterate a regions map with for_each instead of one provider block + module copy per region.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0.0, < 7.0.0"
    }
  }
}
