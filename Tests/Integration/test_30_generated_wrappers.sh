#!/usr/bin/env bash
# The interposer's C wrappers are generated from tools/gen/spi_schema.py: the committed output
# must be exactly what the generator writes now.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 tools/gen/gen_c_wrappers.py --check
