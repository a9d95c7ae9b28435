#!/usr/bin/env bash
# The Swift schema (Sources/Trace/SanTraceFormat/Generated/Schema.swift) and the generated tables
# of Docs/TraceFormat.md are exactly what tools/gen/gen_swift_schema.py makes of spi_schema.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 tools/gen/gen_swift_schema.py --check
echo "schema: generated files are current"
