#!/usr/bin/env bash
# Makes this checkout ready to run: the Debian programs svcqa calls, then .venv with the
# pinned requirements and svcqa installed editable (the `svcqa` command). Cheap when nothing
# changed (a stamp file holds the hash of requirements.txt and pyproject.toml).
# Usage: scripts/bootstrap.sh [run|test|bench]
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-run}

# Debian programs: ffmpeg decodes mp3/m4a and is what torchaudio/torchcodec load audio with;
# espeak-ng speaks the demo's planted speech clips; chromium drives the browser tests; openssl makes
# the TLS test's certificate.
programs=(ffmpeg espeak-ng sox)
packages=(ffmpeg espeak-ng sox)
# Recorded voices the tests score (tests/recorded_voices.py, "test" part, about 60 MB): fluidsynth
# plays the choir and solo voice of the MuseScore soundfont, Asterisk's English and French prompts
# and ALSA's channel names are recorded speech. "bench" adds the held-out voices that only
# benchmarks/heldout_eval.py scores. Installed without recommends (fluidsynth would pull in the
# 120 MB FluidR3 soundfont).
voices=()
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  programs+=(chromium openssl)
  packages+=(chromium openssl fonts-dejavu-core)
  voices+=(fluidsynth musescore-general-soundfont-small asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 alsa-utils)
fi
if [ "$purpose" = bench ]; then
  voices+=(timgm6mb-soundfont asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 asterisk-core-sounds-es-g722 puredata-doc)
fi
missing=()
for i in "${!programs[@]}"; do
  command -v "${programs[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
missing_voices=()
for package in "${voices[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing_voices+=("$package")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_voices[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "svcqa needs these Debian packages: ${missing[*]} ${missing_voices[*]} (apt-get install ${missing[*]} ${missing_voices[*]})" >&2; exit 1
  fi
  echo "Installing ${missing[*]} ${missing_voices[*]} with apt-get ..." >&2
  $sudo apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#missing_voices[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing_voices[@]}" >/dev/null
  fi
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "svcqa needs Python 3.11 (the pinned torch wheels are built for it)." >&2; exit 1
fi

# The stamp covers the pins and pyproject.toml (the package's own declaration and its `svcqa`
# command), so a change to either installs again.
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/svcqa ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Setting up .venv (first run: a few minutes) ..." >&2
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  # svcqa itself, editable: `svcqa` and `python -m svcqa` work from any folder and run this
  # checkout's code. Its dependencies are the pins above; the build uses their setuptools.
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
