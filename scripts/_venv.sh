# Sourced by scripts/run and scripts/test: make .venv and install a requirements file into it.
# Reinstalls only when the requirements file changed since the last install.
ensure_venv() {
  local requirements="$1"
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
  local stamp=".venv/.installed-$(basename "$requirements")"
  if [ ! -f "$stamp" ] || ! cmp -s <(cat requirements*.txt) "$stamp"; then
    echo "Installing $requirements …"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$requirements"
    cat requirements*.txt > "$stamp"
  fi
}
