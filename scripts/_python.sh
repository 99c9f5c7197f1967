# Sourced by scripts/_venv.sh and scripts/lock: print the first supported Python found.
pick_python() {
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Call Me Back needs Python 3.11 or 3.12 (the embedded PostgreSQL wheel has no 3.13 build)." >&2
  return 1
}
