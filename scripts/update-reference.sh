#!/usr/bin/env bash
# Fetch the API reference's renderer, Scalar's standalone bundle
# (@scalar/api-reference on npm), into impl/reference/assets/scalar/, where the
# server embeds it: the docs load nothing from another host.
#
#   scripts/update-reference.sh            re-fetch the pinned version and check it is the committed file
#   scripts/update-reference.sh 1.77.0     move to another version (then run the browser test and commit)
#
# npm checks the tarball against the registry's integrity hash; the version,
# that hash and the bundle's SHA-256 go to MANIFEST, which `make lint` checks
# the committed bundle against (offline). The package ships no LICENSE file;
# LICENSE beside the bundle is Scalar's MIT license, kept by hand.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$ROOT/impl/reference/assets/scalar
MANIFEST=$DIR/MANIFEST
PACKAGE=@scalar/api-reference
FILE=dist/browser/standalone.js

log() { printf 'update-reference: %s\n' "$*" >&2; }
pinned() { sed -n "s/^$1 //p" "$MANIFEST"; }

want=${1:-$(pinned version)}
[ -n "$want" ] || { log "no version given and none in $MANIFEST"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "npm pack $PACKAGE@$want"
(cd "$tmp" && npm pack --silent --json "$PACKAGE@$want" >pack.json)
tarball=$(node -p 'require(process.argv[1])[0].filename' "$tmp/pack.json")
integrity=$(node -p 'require(process.argv[1])[0].integrity' "$tmp/pack.json")
version=$(node -p 'require(process.argv[1])[0].version' "$tmp/pack.json")
tar -xzf "$tmp/$tarball" -C "$tmp" "package/$FILE" package/package.json
license=$(node -p 'require(process.argv[1]).license' "$tmp/package/package.json")
[ "$license" = MIT ] || { log "$PACKAGE@$version is licensed $license, not MIT: review LICENSE before updating"; exit 1; }
sum=$(sha256sum "$tmp/package/$FILE" | cut -d' ' -f1)

if [ $# -eq 0 ]; then
	if [ "$integrity" != "$(pinned integrity)" ] || [ "$sum" != "$(pinned sha256)" ] ||
		! cmp -s "$tmp/package/$FILE" "$DIR/standalone.js"; then
		log "the committed bundle is not $PACKAGE@$version as published"
		exit 1
	fi
	log "the committed bundle is $PACKAGE@$version as published ($sum)"
	exit 0
fi

cp "$tmp/package/$FILE" "$DIR/standalone.js"
cat >"$MANIFEST" <<MANIFEST
package $PACKAGE
version $version
file $FILE
integrity $integrity
sha256 $sum
MANIFEST
log "now $PACKAGE@$version ($sum); run scripts/browser-test.sh and look at the screenshots before committing"
