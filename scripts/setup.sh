# Shared set-up of ./scripts/test and ./scripts/up: Debian packages, a virtualenv, the project.
# Sourced, not run: it exports PATH with .venv/bin first.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export PROBIDAD_STATE_DIR="${PROBIDAD_STATE_DIR:-$ROOT/.probidad}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# ---------------------------------------------------------------- system packages
# ./scripts/test needs all of these; ./scripts/up sets PROBIDAD_APT="" (it needs only Java and Maven).
read -r -a APT_PACKAGES <<< "${PROBIDAD_APT-postgresql kcat poppler-utils chromium prometheus openssl}"
missing=()
for pkg in "${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$([ "$tool" = java ] && echo openjdk-17-jre-headless || echo maven)")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts its own cluster and Prometheus on install; the tests use their own servers.
(command -v systemctl >/dev/null && systemctl stop prometheus 2>/dev/null) || true
pkill -x prometheus 2>/dev/null || true

# ---------------------------------------------------------------- Python
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Probidad needs Python >= 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian's system Python keeps venv in a separate package.
    rm -rf .venv
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi
say "installing the project (pip install -e .[test])"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
export PATH="$ROOT/.venv/bin:$PATH"

