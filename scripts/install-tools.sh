#!/usr/bin/env bash
# Install the system tools nnfpga's tests run for real, from Debian packages, when they are missing:
#   g++, make   the ap_fixed header checks and the HLS C simulation
#   verilator   the Verilog backend's simulation (Debian bookworm: 5.006)
#   yosys       the Verilog backend's synthesis (Debian bookworm: 0.23; nextpnr-ecp5 comes from PyPI, extra [rtl])
#   chromium    renders the HTML report headless in its test (console errors, DOM, screenshot)
set -euo pipefail
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "tools: g++ $(g++ -dumpversion), $(verilator --version | head -n 1), $(yosys -V | head -n 1)," \
    "$(chromium --version 2>/dev/null | head -n 1) present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "tools: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
