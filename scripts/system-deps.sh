#!/bin/sh
# Install the Debian packages listed in $1 (one per line, '#' comments) that are missing.
# Runs apt-get only when something is missing and we are root; otherwise says what to install.
set -eu
list="$1"
missing=""
for pkg in $(sed -e 's/#.*//' "$list"); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "system-deps: missing Debian packages:$missing (run: sudo apt-get install$missing); tests that need them will skip" >&2
fi
