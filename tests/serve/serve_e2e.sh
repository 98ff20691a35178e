#!/usr/bin/env bash
# End-to-end driver for `mesh-run serve` (docs/DESIGN.md §10): starts the
# server on a mesh under scripts/mpirun, waits for /health, runs a client
# command against it, then stops it with SIGTERM and checks that mpirun exits
# in time, that no rank of this job is left and, after a graceful stop, that
# mpirun exited 0 and the log says "server stopped". Whatever happens, the
# trap kills what this script started, so a failing test never leaves a
# server running.
#
#   serve_e2e.sh --mesh 1x2 --mesh-run build/bin/mesh-run --work DIR [--server-arg ARG]...
#       [--sigterm-by-client | --sigterm-mpirun] -- node tests/serve/node/api_checks.mjs ...
#
# Who gets the SIGTERM:
#   default             world rank 0 (the HTTP server): a graceful stop; every
#                       rank leaves the serving loop and MPI_Finalize, mpirun exits 0.
#   --sigterm-by-client the client sends it to rank 0 itself (to watch the drain
#                       from outside: /health 503); this script waits for the exit.
#   --sigterm-mpirun    mpirun (Open MPI 4.1 then sends SIGCONT, SIGTERM and
#                       SIGKILL to the ranks, odls_base_sigkill_timeout apart, and
#                       exits 1 whatever they do): checked only to end in time and
#                       leave no rank behind.
#
# The client command gets SERVE_URL (http://127.0.0.1:PORT), SERVE_MESH,
# SERVE_MPIRUN_PID, SERVE_RANK0_PID and SERVE_WORK in its environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

mesh="" mesh_run="" work="" sigterm=rank0
server_args=()
health_timeout=${SERVE_HEALTH_TIMEOUT:-90}  # seconds from mpirun to /health 200
stop_timeout=${SERVE_STOP_TIMEOUT:-40}      # seconds from SIGTERM to mpirun's exit
while [ $# -gt 0 ]; do
  case $1 in
    --mesh) mesh=$2; shift 2 ;;
    --mesh-run) mesh_run=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --server-arg) server_args+=("$2"); shift 2 ;;
    --sigterm-by-client) sigterm=client; shift ;;
    --sigterm-mpirun) sigterm=mpirun; shift ;;
    --) shift; break ;;
    *) echo "serve_e2e: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$mesh" ] && [ -n "$mesh_run" ] && [ -n "$work" ] && [ $# -gt 0 ] || {
  echo "usage: serve_e2e.sh --mesh DPxMP --mesh-run PATH --work DIR [--server-arg A]... -- CLIENT..." >&2
  exit 2
}
np=$(( ${mesh%x*} * ${mesh#*x} ))
[ -d "$root/tests/serve/node/node_modules/openai" ] || {
  echo "serve_e2e: tests/serve/node/node_modules lacks the npm packages: run scripts/setup" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
log=$work/server.log
port_file=$work/port

mpirun_pid="" ranks=()
say() { echo "serve_e2e[$mesh]: $*"; }
# A process that exists and is not a zombie (an exited rank whose parent,
# mpirun, is gone waits as a zombie until init reaps it).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
dump_log() {
  echo "----- server log ($log) -----"
  cat "$log" 2>/dev/null || true
  echo "----- end of server log -----"
}
fail() {
  say "FAIL: $*"
  dump_log
  exit 1
}
# Kills, by pid, mpirun and the ranks it started (if still there).
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local left=()
  for p in "${ranks[@]}" $mpirun_pid; do alive "$p" && left+=("$p"); done
  if [ ${#left[@]} -gt 0 ]; then
    say "cleanup: killing ${left[*]} (mpirun $mpirun_pid and its ranks)"
    kill -KILL "${left[@]}" 2>/dev/null || true
    wait "$mpirun_pid" 2>/dev/null || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# 1. Start the server; --port 0 picks a free port and writes it to the port file.
say "starting: mpirun -n $np mesh-run serve --mesh $mesh ${server_args[*]}"
t0=$SECONDS
"$root/scripts/mpirun" -n "$np" "$mesh_run" serve \
  --model "$root/tests/data/stories260K.bin" --tokenizer "$root/tests/data/stories260K-tokenizer.bin" \
  --mesh "$mesh" --device-memory 64MiB --port 0 --port-file "$port_file" \
  "${server_args[@]}" > "$log" 2>&1 &
mpirun_pid=$!   # scripts/mpirun execs mpirun: this is mpirun's pid

# 2. Wait for /health (the port file appears once the socket listens).
url=""
while :; do
  alive "$mpirun_pid" || fail "mpirun exited before the server answered /health"
  [ $((SECONDS - t0)) -lt "$health_timeout" ] || fail "no /health 200 within ${health_timeout}s"
  if [ -z "$url" ] && [ -s "$port_file" ]; then url="http://127.0.0.1:$(head -n1 "$port_file")"; fi
  if [ -n "$url" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/health")" = 200 ]; then
    break
  fi
  sleep 0.2
done
# The job's ranks: mpirun's children, one per device, all mesh-run.
# World rank 0 is the one whose environment says OMPI_COMM_WORLD_RANK=0.
mapfile -t ranks < <(pgrep -P "$mpirun_pid" || true)
rank0_pid=""
for p in "${ranks[@]}"; do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = mesh-run ] || fail "mpirun's child $p is not mesh-run"
  tr '\0' '\n' < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=0 && rank0_pid=$p
done
[ ${#ranks[@]} -eq "$np" ] || fail "expected $np mesh-run ranks under mpirun $mpirun_pid, found ${#ranks[@]}"
[ -n "$rank0_pid" ] || fail "no rank with OMPI_COMM_WORLD_RANK=0 among ${ranks[*]}"
say "healthy at $url after $((SECONDS - t0))s (mpirun $mpirun_pid, ranks ${ranks[*]}, rank 0 is $rank0_pid)"

# 3. The client's checks.
set +e
SERVE_URL=$url SERVE_MESH=$mesh SERVE_MPIRUN_PID=$mpirun_pid SERVE_RANK0_PID=$rank0_pid SERVE_WORK=$work "$@"
client_rc=$?
set -e
[ $client_rc -eq 0 ] || fail "the client exited $client_rc"

# 4. SIGTERM (unless the client sent it): mpirun exits in time, every rank with it.
case $sigterm in
  rank0) say "SIGTERM to rank 0 ($rank0_pid)"; kill -TERM "$rank0_pid" ;;
  mpirun) say "SIGTERM to mpirun ($mpirun_pid)"; kill -TERM "$mpirun_pid" ;;
  client) ;;
esac
t1=$SECONDS
while alive "$mpirun_pid"; do
  [ $((SECONDS - t1)) -lt "$stop_timeout" ] || fail "mpirun still running ${stop_timeout}s after SIGTERM"
  sleep 0.2
done
set +e
wait "$mpirun_pid"
mpirun_rc=$?
set -e
mpirun_pid=""
for p in "${ranks[@]}"; do
  alive "$p" && fail "rank process $p is still running after mpirun exited"
done
ranks=()
if [ "$sigterm" != mpirun ]; then
  [ $mpirun_rc -eq 0 ] || fail "mpirun exited $mpirun_rc after SIGTERM to rank 0 (expected 0)"
  grep -q "server stopped" "$log" || fail "the log does not say 'server stopped'"
fi
say "stopped: mpirun exited $mpirun_rc $((SECONDS - t1))s after SIGTERM, no rank left; total $((SECONDS - t0))s"
