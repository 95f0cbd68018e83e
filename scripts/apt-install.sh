#!/usr/bin/env bash
# Installs Debian packages a script needs:
#
#   scripts/apt-install.sh WHO PACKAGE...
#
# WHO names the script in messages. Needs root; otherwise fails, naming the missing packages.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 WHO PACKAGE..." >&2
  exit 2
fi
who="$1"
shift
if [ "$(id -u)" -ne 0 ]; then
  echo "$who: missing $* and not root to install them" >&2
  exit 1
fi
echo "$who: installing $*" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "$@" >&2
