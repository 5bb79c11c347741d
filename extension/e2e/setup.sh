#!/usr/bin/env bash
# Installs what the extension's end-to-end tests need, from the package registries only:
# code-server (VS Code 1.100 served to a browser) and Debian's chromium.
# Idempotent: a second run checks and returns in about a second.
# Usage: setup.sh [DIR]   (default: $PROMPTWISE_E2E_HOME or ~/.cache/promptwise-e2e)
# Prints the path of the code-server binary on its last line.
set -euo pipefail
CODE_SERVER_VERSION=4.100.3   # the last release that runs on Node 20 (VS Code 1.100)
RG_PKG_VERSION=1.15.11        # the @vscode/ripgrep version code-server $CODE_SERVER_VERSION pulls in
RG_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
dir=${1:-${PROMPTWISE_E2E_HOME:-$HOME/.cache/promptwise-e2e}}/code-server-$CODE_SERVER_VERSION
bin="$dir/node_modules/.bin/code-server"

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v chromium >/dev/null || missing+=(chromium)
if [ ! -x "$bin" ]; then
  command -v rg >/dev/null || missing+=(ripgrep)
  # headers for code-server's native modules (kerberos, native-keymap, keytar)
  for pkg in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}" >&2
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

# @vscode/ripgrep's postinstall downloads a binary from outside the registries unless its
# cache already holds the asset: hand it Debian's rg packed the way it expects.
cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$RG_PKG_VERSION"
if [ ! -f "$cache/$RG_ASSET" ]; then
  mkdir -p "$cache"; tmp=$(mktemp -d); cp "$(command -v rg)" "$tmp/rg"
  tar czf "$cache/$RG_ASSET" -C "$tmp" rg; rm -rf "$tmp"
fi

echo "setup: installing code-server $CODE_SERVER_VERSION into $dir (about 5 minutes)" >&2
mkdir -p "$dir"; cd "$dir"
[ -f package.json ] || npm init -y >/dev/null
# Postinstall scripts refuse root without unsafe-perm; node-pty's postinstall runs npx.
npm_config_yes=true npm_config_unsafe_perm=true \
  npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" >&2
[ -x "$bin" ] || { echo "setup: code-server did not install into $dir" >&2; exit 1; }
echo "$bin"
