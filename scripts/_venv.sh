# Sourced by scripts/run and scripts/test: make .venv and install a lock file into it.
# The lock files (requirements.lock, requirements-dev.lock; made by scripts/lock from
# requirements*.txt) pin every package, direct and indirect, with its hashes: pip
# installs exactly those files or stops. Reinstalls only when the lock file changed
# since the last install.
ensure_venv() {
  local lock_file="$1"
  local python_bin="${PYTHON:-}"
  if [ -z "$python_bin" ]; then
    python_bin=$(command -v python3.11 || command -v python3 || true)
  fi
  if [ -z "$python_bin" ]; then
    echo "Orderdesk needs Python 3.11 (python3.11 or python3 on PATH)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $python_bin …"
    "$python_bin" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$lock_file")"
  if [ ! -f "$stamp" ] || ! cmp -s "$lock_file" "$stamp"; then
    echo "Installing $lock_file …"
    .venv/bin/python -m pip install --quiet --require-hashes -r "$lock_file"
    cp "$lock_file" "$stamp"
  fi
}
