#!/bin/sh
# Installs Rack 3 into a private gem directory for the loader tests' second pass:
#
#   sh loaders/ruby/test/install-rack3.sh [DIR]        (DIR defaults to /tmp/rack3)
#   FERRY_RACK3_GEM_HOME=DIR ruby loaders/ruby/test/run.rb
#
# Tries RubyGems first; where rubygems.org cannot be reached it takes Debian 13's ruby-rack
# package (Rack 3.1) instead: `apt-get download` with a private package list (the system's apt
# configuration is not touched), unpacked with dpkg-deb. Its rubygems-integration/all directory
# is a gem directory (gems/ + specifications/).
set -eu
dir=${1:-/tmp/rack3}

if ls "$dir"/specifications/rack-3.*.gemspec >/dev/null 2>&1; then
    echo "Rack 3 already in $dir"
    exit 0
fi

if gem install rack -v '~> 3.0' --install-dir "$dir" --no-document >/dev/null 2>&1; then
    echo "Rack 3 installed from RubyGems into $dir"
    exit 0
fi

echo "RubyGems unreachable; taking Rack 3 from Debian's ruby-rack (trixie)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' \
    > "$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $apt_opts -qq update
# shellcheck disable=SC2086
(cd "$work" && apt-get $apt_opts -qq download ruby-rack)
dpkg-deb -x "$work"/ruby-rack_*.deb "$work/root"
mkdir -p "$dir"
cp -r "$work/root/usr/share/rubygems-integration/all/." "$dir/"
ls "$dir"/specifications/rack-3.*.gemspec >/dev/null
echo "Rack 3 installed from Debian into $dir"
