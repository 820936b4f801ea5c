#!/usr/bin/env bash
# Sets up .venv with the test extras and runs the whole test suite (slow MNIST tests included).
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" test
exec .venv/bin/python -m pytest "$@"
