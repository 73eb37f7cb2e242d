#!/usr/bin/env bash
# End-to-end check of the email as mail clients see it (not part of go test).
#
#  1. installs mailpit (a real SMTP server with an HTML compatibility check)
#     and starts it on loopback;
#  2. sends the bundled example digest through it, DKIM-signed with a key
#     made here, to one subscriber;
#  3. prints mailpit's HTML compatibility score, its link check, the message
#     size and the DKIM result (verified with go-msgauth against the key);
#  4. renders the HTML part in headless Chromium at 375 px and 800 px, light
#     and dark, and saves the screenshots.
#
# Usage: scripts/e2e.sh [OUTDIR]   (default: ./e2e-out)
# Needs: go, openssl, python3, chromium (apt-get install chromium) for step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/e2e-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'kill ${mp_pid:-0} 2>/dev/null || true; rm -rf "$work"' EXIT

export PATH="$(go env GOPATH)/bin:$PATH"
command -v mailpit >/dev/null || go install github.com/axllent/mailpit@v1.27.11

smtp_port=${E2E_SMTP_PORT:-11025}
http_port=${E2E_HTTP_PORT:-18025}
mailpit --smtp "127.0.0.1:$smtp_port" --listen "127.0.0.1:$http_port" \
  --smtp-auth-accept-any --smtp-auth-allow-insecure --database "$work/mailpit.db" >"$work/mailpit.log" 2>&1 &
mp_pid=$!
api="http://127.0.0.1:$http_port/api/v1"
for _ in $(seq 1 100); do curl -fsS "$api/info" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$api/info" >/dev/null || { cat "$work/mailpit.log"; echo "e2e: mailpit did not start"; exit 1; }

# A DKIM key for example.org, selector e2e.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/dkim.pem" 2>/dev/null
openssl pkey -in "$work/dkim.pem" -pubout -out "$work/dkim.pub.pem"

sed -e "s|^port = 1025|port = $smtp_port|" \
    -e "s|^path = \"examples/articles\"|path = \"$root/examples/articles\"|" \
    -e "s|^path = \"digest.db\"|path = \"$work/digest.db\"|" \
    -e "s|^domain = \"\" .*|domain = \"example.org\"|" \
    -e "s|^selector = \"\" .*|selector = \"e2e\"|" \
    -e "s|^private_key_file = \"\" .*|private_key_file = \"$work/dkim.pem\"|" \
    config.example.toml >"$work/config.toml"

go build -o "$work/digest" ./cmd/digest
export DIGEST_SECRET=e2e-secret-0123456789abcdef
d() { "$work/digest" --config "$work/config.toml" --log-level warn "$@"; }
d config check >/dev/null
d subscribers add reader@example.org --name "E2E Reader" >/dev/null
d send --no-progress | tail -1

id=$(curl -fsS "$api/messages" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["ID"])')
curl -fsS "$api/message/$id/raw" >"$out/digest.eml"
curl -fsS "$api/message/$id/html-check" >"$work/html-check.json"
curl -fsS "$api/message/$id/link-check" >"$work/link-check.json" || echo '{"Errors":-1,"Links":[]}' >"$work/link-check.json"
curl -fsS "$api/message/$id" >"$work/message.json"

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
h = json.load(open(w + "/html-check.json"))
t = h["Total"]
print(f"mailpit HTML check: {t['Supported']:.1f}% supported, {t['Partial']:.1f}% partial, "
      f"{t['Unsupported']:.1f}% unsupported ({t['Tests']} tests, {t['Nodes']} nodes); "
      f"score (supported + partial) {t['Supported'] + t['Partial']:.1f}% (target >= 95)")
for warn in h.get("Warnings", []):
    score = warn.get("Score", {})
    print(f"  warning: {warn['Title']} ({warn['Category']}): "
          f"{score.get('Unsupported', 0):.0f}% of clients unsupported, {score.get('Partial', 0):.0f}% partial")
l = json.load(open(w + "/link-check.json"))
print(f"mailpit link check: {len(l.get('Links', []))} links, {l.get('Errors')} errors "
      "(this machine has no network: external links cannot be fetched)")
m = json.load(open(w + "/message.json"))
print(f"message size: {m['Size']} bytes")
PY
html_bytes=$(python3 - "$out/digest.eml" <<'PY'
import email, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
html = msg.get_body(("html",)).get_content()
open(sys.argv[1].replace("digest.eml", "digest.html"), "w").write(html)
print(len(html.encode()))
PY
)
echo "HTML part: $html_bytes bytes (Gmail clips at 102 KB; target < 100 KB)"
go run ./scripts/dkimcheck -pub "$work/dkim.pub.pem" "$out/digest.eml"

if ! command -v chromium >/dev/null; then
  echo "e2e: no chromium: skipping screenshots (apt-get install chromium)"
  exit 0
fi
for width in 375 800; do
  for mode in light dark; do
    flags=()
    [ "$mode" = dark ] && flags=(--force-dark-mode --blink-settings=preferredColorScheme=0)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$work/chrome-$width-$mode" "${flags[@]}" --hide-scrollbars \
      --window-size="$width,2200" --screenshot="$out/digest-$width-$mode.png" \
      "file://$out/digest.html" >/dev/null 2>&1
    echo "screenshot: $out/digest-$width-$mode.png"
  done
done
