#!/usr/bin/env bash
# System tools the test suite drives: Xvfb (a virtual screen for the Tk window), xdotool (to move
# the mouse on it) and Chromium (to check the Prefect UI). Installs them with apt-get when missing;
# does nothing when they are present.
set -euo pipefail
if command -v Xvfb >/dev/null && command -v xdotool >/dev/null && command -v chromium >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq xvfb xdotool chromium >/dev/null
