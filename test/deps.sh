#!/bin/bash
# Installs the Debian packages mimir needs to build, run and test (when root
# and something is missing). Non-root users get the list to install.
set -e
PKGS="make gcc postgresql-15 postgresql-server-dev-15 postgresql-15-cron
      libprotobuf-c-dev protobuf-c-compiler libsnappy-dev libmicrohttpd-dev
      libcurl4-openssl-dev libyaml-dev python3 python3-psycopg2
      clang-14 libclang-rt-14-dev prometheus prometheus-alertmanager curl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
