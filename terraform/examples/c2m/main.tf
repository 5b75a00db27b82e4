# A C2M-style multi-region run: servers in one region, spot client fleets in every region of client_regions.
# The server region must also be a client region (its VPC hosts the servers).

locals {
  network_regions = { for r, c in var.client_regions : r => { cidr = c.cidr } }
}

module "network" {
  source  = "../../modules/network"
  run_id  = var.run_id
  regions = local.network_regions
  # Clients reach the servers over public IPs from every region; all agent ports require mTLS.
  nomad_ingress_cidrs = concat([for r in values(var.client_regions) : r.cidr], var.operator_cidrs, ["0.0.0.0/0"])
}

module "servers" {
  source             = "../../modules/servers"
  run_id             = var.run_id
  region             = var.server_region
  server_count       = var.server_count
  instance_type      = var.server_instance_type
  ami_id             = var.server_ami
  subnet_ids         = module.network.subnet_ids[var.server_region]
  security_group_ids = [module.network.security_group_ids[var.server_region]]
  ca_cert_path       = var.ca_cert_path
}

module "client_fleet" {
  source = "../../modules/client-fleet"
  run_id = var.run_id
  regions = {
    for r, c in var.client_regions : r => {
      capacity_gib       = c.capacity_gib
      instance_types     = c.instance_types
      ami_id             = c.ami_id
      subnet_ids         = module.network.subnet_ids[r]
      security_group_ids = [module.network.security_group_ids[r]]
    }
  }
  server_region   = var.server_region
  ssm_prefix      = module.servers.ssm_prefix
  tls_kms_key_arn = module.servers.tls_kms_key_arns
  server_join     = [for a in module.servers.server_addresses : "${trimprefix(trimsuffix(a, ":4646"), "https://")}:4647"]
}
