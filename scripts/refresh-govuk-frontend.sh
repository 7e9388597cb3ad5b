#!/usr/bin/env bash
# Refresh the staff console's vendored govuk-frontend (decision 0080): fetch the pinned
# release from npm, compile its Sass without the GOV.UK brand (the system font stack instead
# of GDS Transport, no @font-face, our own assets path) and copy the compiled CSS and the
# JavaScript into dispatcher/web/console/static/govuk/. No font, crown, crest or icon is
# copied. Needs node and npm; run it from anywhere (`make console-assets`).
set -euo pipefail
GOVUK_FRONTEND_VERSION="6.6.0"
SASS_VERSION="1.108.2"
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/dispatcher/web/console/static/govuk"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund --ignore-scripts \
    "govuk-frontend@$GOVUK_FRONTEND_VERSION" "sass@$SASS_VERSION"
cat > console.scss <<'SCSS'
// The system font stack, so no GDS Transport file is asked for (that font is for GOV.UK only).
@use "govuk-frontend/dist/govuk" with (
  $govuk-font-family: (system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif),
  $govuk-include-default-font-face: false,
  $govuk-assets-path: "/console-assets/govuk/"
);
SCSS
npx --no-install sass --no-source-map --style=compressed --quiet-deps --silence-deprecation=import \
    --load-path=node_modules console.scss govuk-frontend.min.css
rm -rf "$out"
mkdir -p "$out"
cp govuk-frontend.min.css "$out/"
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$out/"
cp node_modules/govuk-frontend/LICENSE.txt "$out/LICENSE.txt" 2>/dev/null \
    || cp node_modules/govuk-frontend/package.json "$out/package.json"
echo "$GOVUK_FRONTEND_VERSION" > "$out/VERSION"
if grep -q "GDS Transport" "$out/govuk-frontend.min.css"; then
    echo "error: the compiled CSS still names GDS Transport" >&2
    exit 1
fi
echo "govuk-frontend $GOVUK_FRONTEND_VERSION vendored into $out"
