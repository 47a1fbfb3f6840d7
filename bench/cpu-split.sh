#!/usr/bin/env bash
# Where a scenario's CPU goes, process by process: runs the command given
# (a dt-bench run, say) and prints the CPU seconds each part of the system
# spent meanwhile (user + system, from /proc), and its share.
#
#   bench/cpu-split.sh target/release/dt-bench package-flow --no-baselines
#
# Parts: ingest, workers, broadcaster, dt-bench, PostgreSQL (every backend),
# RabbitMQ, Redis, the MongoDB stand-in (python -m secantus), other.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

ticks=$(getconf CLK_TCK)

# "<part> <ticks>" for every process now.
sample() {
  for stat in /proc/[0-9]*/stat; do
    local pid=${stat#/proc/}; pid=${pid%/stat}
    local line comm rest
    line=$(cat "$stat" 2>/dev/null) || continue
    comm=${line#*(}; comm=${comm%%)*}
    rest=${line##*) }
    # Fields after the name: state is 1st, utime 12th, stime 13th.
    read -r -a f <<< "$rest"
    local cmd
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
    local part=other
    case "$comm" in
      ingest) part=ingest ;;
      workers) part=workers ;;
      broadcaster) part=broadcaster ;;
      dt-bench) part=dt-bench ;;
      postgres) part=postgresql ;;
      beam.smp|erl_child_setup|inet_gethost) part=rabbitmq ;;
      redis-server) part=redis ;;
      python*) [[ "$cmd" == *secantus* ]] && part=mongodb-stand-in ;;
    esac
    echo "$pid $part $(( f[11] + f[12] ))"
  done
}

before=$(sample)
started=$(date +%s.%N)
"$@"
ended=$(date +%s.%N)
after=$(sample)
# The command itself (and its children) ended before the last sample: its
# CPU comes from the shell's account of its children, as "<pid> <part> <ticks>".
times > "${TMPDIR:-/tmp}/cpu-split.$$"
own=$(tail -1 "${TMPDIR:-/tmp}/cpu-split.$$" | python3 -c '
import sys, re
def secs(t):
    m, s = re.match(r"(\d+)m([\d.]+)s", t).groups()
    return int(m) * 60 + float(s)
user, system = sys.stdin.read().split()
print(round((secs(user) + secs(system)) * '"$ticks"'))')
rm -f "${TMPDIR:-/tmp}/cpu-split.$$"
after+=$'\n'"0 $(basename "$1") $own"

python3 - "$ticks" "$started" "$ended" <<PY
import sys, collections
ticks, started, ended = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
def parse(text):
    return {l.split()[0]: (l.split()[1], int(l.split()[2])) for l in text.strip().splitlines()}
before, after = parse("""$before"""), parse("""$after""")
spent = collections.Counter()
for pid, (part, t) in after.items():
    spent[part] += t - before.get(pid, (part, 0))[1]
wall = ended - started
total = sum(spent.values()) / ticks
print(f"\nCPU over {wall:.1f} s of wall time ({total:.1f} CPU-s, {total / wall:.2f} cores busy on average):")
for part, t in spent.most_common():
    if t > 0:
        print(f"  {part:18} {t / ticks:8.1f} CPU-s  {100 * t / max(1, sum(spent.values())):5.1f} %")
PY
