#!/bin/bash
# Runs inside the AMI build (as root): Docker, CNI, Nomad, the systemd units, the pre-pulled image.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
F=/tmp/stampede-files

apt-get update
apt-get install -y --no-install-recommends docker.io containernetworking-plugins unzip curl jq awscli mdadm xfsprogs ca-certificates

# CNI plugins where Nomad looks for them.
mkdir -p /opt/cni/bin
ln -sf /usr/lib/cni/* /opt/cni/bin/

# Nomad: a local custom build, or the release.
if [ "$NOMAD_CUSTOM" = "1" ]; then
  install -m 0755 /tmp/nomad-custom /usr/local/bin/nomad
else
  curl -fsSL -o /tmp/nomad.zip "$NOMAD_DOWNLOAD_BASE/$NOMAD_VERSION/nomad_${NOMAD_VERSION}_linux_amd64.zip"
  unzip -o /tmp/nomad.zip -d /usr/local/bin
  chmod 0755 /usr/local/bin/nomad
fi
/usr/local/bin/nomad version

mkdir -p /etc/nomad.d /opt/nomad/data /etc/stampede
install -m 0644 "$F/nomad.service" /etc/systemd/system/nomad.service
install -m 0644 "$F/nomad-cli.env" /etc/stampede/nomad-cli.env

if [ "$ROLE" = "client" ]; then
  install -m 0755 "$F/stampede-prepull" /usr/local/bin/stampede-prepull
  install -m 0755 "$F/stampede-spot-watch" /usr/local/bin/stampede-spot-watch
  install -m 0644 "$F/stampede-prepull.service" /etc/systemd/system/stampede-prepull.service
  install -m 0644 "$F/stampede-spot-watch.service" /etc/systemd/system/stampede-spot-watch.service
  mkdir -p /etc/systemd/system/nomad.service.d
  install -m 0644 "$F/nomad-client-prepull.conf" /etc/systemd/system/nomad.service.d/10-prepull.conf
  echo "$BENCHMARK_IMAGE" > /etc/stampede/baked-image
  systemctl enable docker.service
  systemctl start docker.service
  docker pull "$BENCHMARK_IMAGE"
  systemctl daemon-reload
  systemctl enable stampede-prepull.service stampede-spot-watch.service
  # The ordering the benchmark relies on, checked at build time.
  systemctl show nomad.service -p After -p Requires | grep -q stampede-prepull.service
fi
systemctl daemon-reload
systemctl enable nomad.service
apt-get clean
