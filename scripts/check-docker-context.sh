#!/usr/bin/env bash
# Checks that the Docker image can build from what the Dockerfile copies, without a Docker
# engine: assembles exactly the build stage's COPY sources in an empty folder and runs
# `cargo check --locked` there, reusing this checkout's target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

in_build_stage=0
while read -r instruction rest; do
  case "$instruction" in
    FROM)
      # The first stage builds; the runtime stage only copies its result and static files.
      in_build_stage=$((in_build_stage + 1))
      ;;
    COPY)
      [ "$in_build_stage" -eq 1 ] || continue
      read -r -a args <<<"$rest"
      case "${args[0]}" in --*) echo "check-docker-context: unsupported COPY option in: COPY $rest"; exit 1 ;; esac
      destination=${args[-1]}
      unset 'args[-1]'
      for source in "${args[@]}"; do
        if [ ! -e "$source" ]; then
          echo "check-docker-context: the Dockerfile copies $source, which the repository lacks"
          exit 1
        fi
        if [ -f .dockerignore ] && grep -qxF "$source" .dockerignore; then
          echo "check-docker-context: the Dockerfile copies $source, which .dockerignore leaves out"
          exit 1
        fi
        case "$destination" in
          */) mkdir -p "$context/$destination"; cp -R "$source" "$context/$destination" ;;
          *) mkdir -p "$(dirname "$context/$destination")"; cp -R "$source" "$context/$destination" ;;
        esac
      done
      ;;
  esac
done < Dockerfile

cd "$context"
echo "check-docker-context: building the image's context: $(ls | tr '\n' ' ')"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" cargo check --locked --bin iiko-bridge
