#!/usr/bin/env bash
# Deployment checks: cfn-lint and `sam validate --lint` on template.yaml
# (its property tests run in scripts/test.sh), and `sam build` of the three arm64 bootstrap
# binaries (cargo-lambda + zig from PyPI), reporting each function's zipped
# size. Installs what it needs into .venv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_python_tools
ensure_deploy_tools
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
export_fake_aws_credentials

echo "==> cfn-lint template.yaml"
cfn-lint template.yaml
echo "==> sam validate --lint"
sam validate --lint

if ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  echo "the aarch64-unknown-linux-gnu target cannot be installed here: sam build skipped"
  exit 0
fi
# DEPLOY_CHECK_MODE=debug (what .ci/run sets) builds the same arm64
# bootstraps with the dev profile (SAM_BUILD_MODE=debug): it proves the
# template, cargo-lambda, zig and the cross-compilation of every
# dependency (aws-lc's C included) in a third of the CPU time of the
# optimized build. The release build, and its sizes, are scripts/bench.sh's.
mode="release"
if [ "${DEPLOY_CHECK_MODE:-release}" = "debug" ]; then
  export SAM_BUILD_MODE=debug
  mode="debug"
fi
echo "==> sam build (arm64, $mode)"
# No build cache in CI: hashing target/ for it costs more than it saves.
sam build --no-cached --parallel 2>&1 | grep -vE '^\s*$' | tail -n 5
export DEPLOY_CHECK_MODE="$mode"
python - <<'PY'
import io, os, pathlib, sys, zipfile
failed = 0
for function in ("PollerFunction", "ApiFunction", "ContactFlowFunction"):
    path = pathlib.Path(".aws-sam/build") / function / "bootstrap"
    if not path.is_file():
        print(f"FAIL  {function}: no bootstrap at {path}")
        failed += 1
        continue
    data = path.read_bytes()
    machine = int.from_bytes(data[18:20], "little")  # ELF e_machine; 183 = AArch64
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bootstrap", data)
    ok = data[:4] == b"\x7fELF" and machine == 183
    failed += not ok
    mode = os.environ.get("DEPLOY_CHECK_MODE", "release")
    print(f"{'ok  ' if ok else 'FAIL'}  {function}: bootstrap {len(data)/1e6:.1f} MB, zipped {buffer.tell()/1e6:.1f} MB, {'arm64' if machine == 183 else f'machine {machine}'} ({mode} build)")
sys.exit(1 if failed else 0)
PY
