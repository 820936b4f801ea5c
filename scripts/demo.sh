#!/usr/bin/env bash
# Sets up .venv and trains the guide's MLP on the bundled MNIST sample with Keras-style progress.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh"
exec .venv/bin/python examples/getting_started.py --verbose 1 "$@"
