#!/usr/bin/env bash
# Sets up .venv with the test extras and runs the whole test suite (slow MNIST tests included);
# the `compat` extra brings Keras 3 for the differential tests in tests/compat/; the
# `safetensors`, `export` and `sklearn` extras the tests of the features beyond Keras.
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" "test,plot,compat,safetensors,export,sklearn"
# plot_model renders with Graphviz's `dot`; install it where we can (root with apt), else the
# rendering tests skip and say why.
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing graphviz (for plot_model) ..."
    { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq graphviz; } >/dev/null 2>&1 \
        || echo "graphviz could not be installed: plot rendering tests will be skipped"
fi
exec .venv/bin/python -m pytest "$@"
