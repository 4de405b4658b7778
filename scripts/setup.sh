# Shared set-up of ./scripts/test and ./scripts/up: Debian packages, a virtualenv, the project.
# Sourced, not run: it exports PATH with .venv/bin first.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export PROBIDAD_STATE_DIR="${PROBIDAD_STATE_DIR:-$ROOT/.probidad}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# ---------------------------------------------------------------- system packages
# ./scripts/test needs all of these; ./scripts/up sets PROBIDAD_APT="kcat" (with Java and Maven, always checked).
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
  running_before=" $( (pgrep -x prometheus || true) | tr '\n' ' ') "
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's prometheus package starts a Prometheus service on install; the project needs only its promtool.
  # Stop that service, and only when this install just started it: through the service manager that runs it,
  # else by the process ids that appeared during the install. Any other Prometheus on the machine is left alone.
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    started=()
    for pid in $(pgrep -x prometheus || true); do
      [[ "$running_before" == *" $pid "* ]] || started+=("$pid")
    done
    if [ ${#started[@]} -gt 0 ]; then
      say "stopping the Prometheus service the prometheus package just started (pid ${started[*]})"
      if [ -d /run/systemd/system ] && systemctl is-active --quiet prometheus 2>/dev/null; then
        $SUDO systemctl stop prometheus || true
      elif command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
        $SUDO service prometheus stop >/dev/null || true
      fi
      for pid in "${started[@]}"; do  # still there and still that Prometheus: the service manager did not stop it
        if [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = prometheus ]; then $SUDO kill "$pid" 2>/dev/null || true; fi
      done
    fi
  fi
fi

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

