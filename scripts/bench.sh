#!/usr/bin/env bash
# What `fputrace watch` costs a busy host, side by side with a bpftrace script
# that attaches the same tracepoints and only counts. Run as root:
#
#   sudo scripts/bench.sh [--qemu | --qemu-only] [--no-build]
#
# This machine: interleaved rounds (order rotated each round) of
#   untraced | `fputrace watch -o /dev/null` (all mounts) | bpftrace, counting
# (and, where fputrace enabled syscall tracepoints, bpftrace counting on those
# alone: what they cost every other syscall) over five workloads (fio io_uring
# 4k random reads on tmpfs, the same with --registerfiles, an open/read/close
# loop, a fork/exit loop, fio libaio O_DIRECT random reads on a loop-mounted
# ext4). Prints the medians, the ratios to
# untraced (of the medians, and the median of the per-round ratios), the time
# from start to attached of both tracers, and fputrace's ring-buffer drops per
# workload (plus two fio io_uring jobs at once).
#
# The bpftrace script is derived at run time from what fputrace really attached
# (bpftool perf show on its pid), so the comparison follows fputrace's probe
# set. Function probes (fentry/fexit/kprobe) have no bpftrace twin here and are
# listed as such.
#
# --qemu: then the same workloads in QEMU (TCG) on Debian's 6.12 kernel (suite
# trixie), untraced vs fputrace's fentry, kprobe and tracepoint backends, with
# bench/qemu-guest.sh. Software emulation: compare the ratios, not the rates.
#
# Knobs (environment):
#   BENCH_ROUNDS=5 BENCH_DURATION=3      rounds, seconds per measurement (host)
#   BENCH_WORKLOADS="uring uring-reg open fork aio"
#   BENCH_DROPS=1                        0: skip the ring-buffer drop runs
#   BENCH_FIO_SIZE=64M                   size of each fio file
#   BENCH_QEMU_ROUNDS=3 BENCH_QEMU_DURATION=3 BENCH_QEMU_SUITE=trixie
#   BENCH_QEMU_DROPS=1 BENCH_QEMU_TIMEOUT=1800
#   BENCH_QEMU_ICOUNT=shift=0,sleep=off  QEMU's -icount: the guest's clock counts
#                                        instructions, so its rates are work per
#                                        instruction, steady whatever else the
#                                        host runs; "off": the guest's clock is
#                                        the host's (rounds then spread by 1.5x
#                                        on a shared host)
#   BENCH_QEMU_BACKENDS="fentry kprobe tracepoint"   add B-empty (e.g. fentry-empty)
#                                        for B with its fput and io_uring request
#                                        programs returning at once: the floor
#                                        that entering a program costs; add
#                                        kprobe-single for the kprobe backend on
#                                        plain kprobes (FPUTRACE_KPROBE_MULTI=0)
#   BENCH_QEMU_LOG=FILE                  keep the guest's serial log there
# fio and bpftrace are installed with apt-get if missing.
set -euo pipefail

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

root=$(cd "$(dirname "$0")/.." && pwd)
run_host=1 run_qemu=0 build=1
while (($#)); do
  case $1 in
    --qemu) run_qemu=1 ;;
    --qemu-only) run_qemu=1 run_host=0 ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-3}
WORKLOADS=${BENCH_WORKLOADS:-uring uring-reg open fork aio}
DROPS=${BENCH_DROPS:-1}
FIO_SIZE=${BENCH_FIO_SIZE:-64M}
QEMU_ROUNDS=${BENCH_QEMU_ROUNDS:-3}
QEMU_DURATION=${BENCH_QEMU_DURATION:-3}
QEMU_SUITE=${BENCH_QEMU_SUITE:-trixie}
QEMU_DROPS=${BENCH_QEMU_DROPS:-1}
QEMU_BACKENDS=${BENCH_QEMU_BACKENDS:-fentry kprobe tracepoint}
QEMU_TIMEOUT=${BENCH_QEMU_TIMEOUT:-1800}
QEMU_ICOUNT=${BENCH_QEMU_ICOUNT:-shift=0,sleep=off}
for v in ROUNDS DURATION QEMU_ROUNDS QEMU_DURATION QEMU_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v wants a positive whole number, got '${!v}'"
done
for w in $WORKLOADS; do
  [[ " uring uring-reg open fork aio " == *" $w "* ]] || die "unknown workload '$w' in BENCH_WORKLOADS"
done

(($(id -u) == 0)) || die "must run as root (BPF, mounts, loop devices, apt-get)"

# ---- tools -----------------------------------------------------------------

# fio and bpftrace come from Debian; nothing else of the machine is changed.
install_bench_tools() {
  local missing=() p
  for p in fio bpftrace; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  note "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}
install_bench_tools
if ((build)); then
  note "building (scripts/build.sh, log in /tmp/fputrace-bench-build.log)"
  nice -n 10 "$root/scripts/build.sh" >/tmp/fputrace-bench-build.log 2>&1 ||
    { tail -n 30 /tmp/fputrace-bench-build.log >&2; die "build failed (log: /tmp/fputrace-bench-build.log)"; }
fi
B=$root/build
FPUTRACE=$B/fputrace
OPS_LOOP=$B/bench/ops_loop
[[ -x $FPUTRACE && -x $OPS_LOOP ]] || die "missing $FPUTRACE or $OPS_LOOP: build first (scripts/build.sh)"
for t in fio bpftrace bpftool losetup mkfs.ext4 mount umount awk; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done

# ---- cleanup -----------------------------------------------------------------

work=$(mktemp -d /tmp/fputrace-bench.XXXXXX)
tracer_pid='' loopdev='' attach_s=''
cleanup() {
  local rc=$?
  if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
    kill -INT "$tracer_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$tracer_pid" 2>/dev/null || true
    wait "$tracer_pid" 2>/dev/null || true
  fi
  umount "$work/ext4" 2>/dev/null || true
  [[ -z $loopdev ]] || losetup -d "$loopdev" 2>/dev/null || true
  umount "$work/tmpfs" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}'; }

# ---- tables (shared by both platforms) ----------------------------------------

# median of the numbers on stdin ("-" if none)
median() {
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "-"; exit }
    if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

label() {
  case $1 in
    uring) echo "fio io_uring randread 4k qd32, tmpfs (IOPS)" ;;
    uring-reg) echo "fio io_uring randread 4k qd32 --registerfiles, tmpfs (IOPS)" ;;
    open) echo "open/read/close loop, tmpfs (ops/s)" ;;
    fork) echo "fork/exit/wait loop (ops/s)" ;;
    aio) echo "fio libaio O_DIRECT randread 4k qd32, loop ext4 (IOPS)" ;;
    uring2) echo "two fio io_uring jobs at once (IOPS)" ;;
    *) echo "$1" ;;
  esac
}

# paired_ratio FILE CONFIG BASE WORKLOAD : the median over rounds of
# CONFIG's rate / BASE's rate in the same round. The k-th line of a config and
# workload in FILE is round k. Two measurements of one round are seconds apart,
# so a host whose load drifts over minutes moves both; the ratio of the medians
# mixes rounds taken minutes apart.
paired_ratio() {
  awk -v c="$2" -v b="$3" -v w="$4" '
    $2 == w && $1 == c {cv[++nc] = $3}
    $2 == w && $1 == b {bv[++nb] = $3}
    END {for (k = 1; k <= nc && k <= nb; k++) if (bv[k] > 0) print cv[k] / bv[k]}' "$1" | median
}

# rate_table FILE CONFIG... : FILE has "config workload value" lines; the first
# config is the baseline. Prints medians, the ratios of the others' medians to
# the baseline's, and the medians of the per-round ratios (paired_ratio).
rate_table() {
  local file=$1 base=$2 w c m
  shift
  local configs=("$@") hdr='| workload' sep='|---'
  for c in "${configs[@]}"; do hdr+=" | $c"; sep+='|---:'; done
  for c in "${configs[@]:1}"; do hdr+=" | $c/$base"; sep+='|---:'; done
  for c in "${configs[@]:1}"; do hdr+=" | $c/$base per round"; sep+='|---:'; done
  echo "$hdr |"
  echo "$sep|"
  for w in $(awk '{print $2}' "$file" | awk '!seen[$0]++'); do
    local row="| $(label "$w")" meds=()
    for c in "${configs[@]}"; do
      m=$(awk -v c="$c" -v w="$w" '$1 == c && $2 == w {print $3}' "$file" | median)
      meds+=("$m")
      row+=" | $(awk -v m="$m" 'BEGIN {if (m == "-") print "-"; else printf "%.0f", m}')"
    done
    for m in "${meds[@]:1}"; do
      row+=" | $(awk -v m="$m" -v b="${meds[0]}" 'BEGIN {if (m == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", m / b}')"
    done
    for c in "${configs[@]:1}"; do
      m=$(paired_ratio "$file" "$c" "$base" "$w")
      row+=" | $(awk -v m="$m" 'BEGIN {if (m == "-") print "-"; else printf "%.2fx", m}')"
    done
    echo "$row |"
  done
}

# raw_rounds FILE CONFIG... : every measurement, in round order, to judge the spread
raw_rounds() {
  local file=$1 w c
  shift
  echo '```'
  for w in $(awk '{print $2}' "$file" | awk '!seen[$0]++'); do
    for c in "$@"; do
      printf '%-10s %-10s %s\n' "$w" "$c" "$(awk -v c="$c" -v w="$w" '$1 == c && $2 == w {printf "%s ", $3}' "$file")"
    done
  done
  echo '```'
}

# attach_table FILE : "config seconds" lines -> median per config
attach_table() {
  local file=$1 c
  echo "| start to attached | median | min | max | runs |"
  echo "|---|---:|---:|---:|---:|"
  for c in $(awk '{print $1}' "$file" | awk '!seen[$0]++'); do
    awk -v c="$c" '$1 == c {print $2}' "$file" | sort -g | awk -v c="$c" -v med="$(awk -v c="$c" '$1 == c {print $2}' "$file" | median)" '
      {a[NR] = $1} END {printf "| %s | %.2f s | %.2f s | %.2f s | %d |\n", c, med, a[1], a[NR], NR}'
  done
}

# drops_table FILE : "config workload rate drops map_full undecodable" lines
drops_table() {
  local file=$1
  echo "| fputrace --json | workload | rate | ringbuf_drops | map_full | undecodable |"
  echo "|---|---|---:|---:|---:|---:|"
  while read -r c w rate drops mf und; do
    printf '| %s | %s | %.0f | %s | %s | %s |\n' "$c" "$(label "$w")" "$rate" "$drops" "$mf" "$und"
  done <"$file"
}

cpu_model() { awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo; }

# ---- the host part ---------------------------------------------------------------

host_bench() {
  local tracefs=/sys/kernel/tracing
  [[ -d $tracefs/events ]] || mount -t tracefs nodev "$tracefs" 2>/dev/null || true
  [[ -d $tracefs/events ]] || { tracefs=/sys/kernel/debug/tracing; [[ -d $tracefs/events ]]; } ||
    die "tracefs is not mounted and cannot be (mount -t tracefs nodev /sys/kernel/tracing)"

  mkdir -p "$work/tmpfs" "$work/ext4"
  mount -t tmpfs -o size=512M fputrace-bench "$work/tmpfs"
  head -c 4096 /dev/urandom >"$work/tmpfs/small"
  truncate -s 256M "$work/ext4.img"
  mkfs.ext4 -q -F "$work/ext4.img"
  loopdev=$(losetup -f --show "$work/ext4.img")
  mount -t ext4 "$loopdev" "$work/ext4"
  # Lay out the fio files now, so no round pays for it.
  local f
  for f in "$work/tmpfs/data" "$work/ext4/data"; do
    fio --name=layout --filename="$f" --size="$FIO_SIZE" --rw=write --bs=1M --ioengine=psync \
      --output=/dev/null >/dev/null 2>"$work/fio.err" || { cat "$work/fio.err" >&2; die "fio could not write $f"; }
  done
  sync

  # measure WORKLOAD [extra fio args]: prints the rate
  measure() {
    local w=$1 out
    shift
    local fio_uring=(fio --name=bench --filename="$work/tmpfs/data" --size="$FIO_SIZE" --ioengine=io_uring
      --rw=randread --bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal)
    case $w in
      uring) out=$("${fio_uring[@]}" "$@" 2>"$work/w.err") ;;
      uring-reg) out=$("${fio_uring[@]}" --registerfiles "$@" 2>"$work/w.err") ;;
      uring2) out=$("${fio_uring[@]}" --numjobs=2 --group_reporting "$@" 2>"$work/w.err") ;;
      aio) out=$(fio --name=bench --filename="$work/ext4/data" --size="$FIO_SIZE" --ioengine=libaio --direct=1 \
        --rw=randread --bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal "$@" 2>"$work/w.err") ;;
      open) out=$("$OPS_LOOP" open "$work/tmpfs/small" "$DURATION" 2>"$work/w.err") ;;
      fork) out=$("$OPS_LOOP" fork "$DURATION" 2>"$work/w.err") ;;
    esac || { cat "$work/w.err" >&2; die "workload $w failed"; }
    case $w in
      open | fork) awk '{print $(NF - 1)}' <<<"$out" ;;
      *) awk -F';' '{print $8}' <<<"$out" ;; # terse v3: read IOPS
    esac
  }

  # start_fputrace ARGS... : starts `fputrace watch ARGS`, waits until it has
  # attached (its "tracing with" line); sets tracer_pid and attach_s (seconds).
  # Not in $(...): the tracer must be this shell's child.
  start_fputrace() {
    local t0
    : >"$work/fputrace.err" # no stale "tracing with" line for the poll below
    t0=$(now)
    "$FPUTRACE" watch "$@" 2>>"$work/fputrace.err" &
    tracer_pid=$!
    until grep -q 'tracing with' "$work/fputrace.err"; do
      kill -0 "$tracer_pid" 2>/dev/null || { cat "$work/fputrace.err" >&2; die "fputrace watch $* exited early"; }
      sleep 0.01
    done
    attach_s=$(elapsed "$t0")
  }
  # start_bpftrace SCRIPT NPROBES
  start_bpftrace() {
    local t0 script=$1 nprobes=$2
    : >"$work/bpftrace.out"
    t0=$(now)
    bpftrace "$script" >>"$work/bpftrace.out" 2>"$work/bpftrace.err" &
    tracer_pid=$!
    # "Attaching N probes..." comes before the attaching: also wait until the
    # kernel shows all N probes on its pid.
    until grep -q '^Attaching' "$work/bpftrace.out" &&
      (($(bpftool perf show 2>/dev/null | awk -v p="$tracer_pid" '$1 == "pid" && $2 == p' | wc -l) >= nprobes)); do
      kill -0 "$tracer_pid" 2>/dev/null || { cat "$work/bpftrace.out" "$work/bpftrace.err" >&2; die "bpftrace exited early"; }
      sleep 0.01
    done
    attach_s=$(elapsed "$t0")
  }
  stop_tracer() {
    local rc=0
    kill -INT "$tracer_pid"
    wait "$tracer_pid" || rc=$?
    tracer_pid=''
    ((rc == 0)) || { cat "$work"/*.err >&2; die "the tracer exited with status $rc"; }
  }

  # ---- what fputrace attaches here, and bpftrace's twin of it ----
  note "discovering fputrace's probes"
  start_fputrace -o /dev/null
  local tracing_line pid=$tracer_pid
  tracing_line=$(grep -m1 'tracing with' "$work/fputrace.err" | sed 's/^fputrace: //')
  # perf-event and raw_tp attachments, through BPF_TASK_FD_QUERY:
  #   pid 9594  fd 28: prog_id 592  tracepoint  sys_enter_io_uring_register
  #   pid 9594  fd 30: prog_id 600  raw_tracepoint  io_uring_complete
  #   pid 9594  fd 32: prog_id 601  kprobe  func fput  offset 0
  #   pid 9594  fd 34: prog_id 602  uprobe  filename /x  offset 16
  bpftool perf show >"$work/perf.txt"
  twin=() fnprobes=()
  local kind name cats t
  while read -r kind name; do
    case $kind in
      tracepoint | raw_tracepoint)
        # raw_tp and tp_btf attach to the raw tracepoint behind the trace event
        # of the same name: bpftrace gets tracepoint:CATEGORY:NAME.
        cats=$(cd "$tracefs/events" && ls -d -- */"$name" 2>/dev/null | cut -d/ -f1 || true)
        if [[ -z $cats ]]; then
          twin+=("rawtracepoint:$name")
          note "$kind $name has no trace event: bpftrace gets rawtracepoint:$name"
        else
          [[ $(wc -l <<<"$cats") -eq 1 ]] || note "$name is in several categories ($(echo $cats)); bpftrace gets the first"
          twin+=("tracepoint:$(head -n1 <<<"$cats"):$name")
        fi ;;
      *) fnprobes+=("$kind:$name") ;;
    esac
  done < <(awk -v p="$pid" '$1 == "pid" && $2 == p {
      if ($7 == "tracepoint" || $7 == "raw_tracepoint") print $7, $8; else print $7, $9 }' "$work/perf.txt")
  # fentry/fexit (and other BPF links that are not perf events or raw tracepoints)
  local fi lt pid_prog pname
  for fi in /proc/"$pid"/fdinfo/*; do
    lt=$(awk '$1 == "link_type:" {print $2}' "$fi" 2>/dev/null) || continue
    [[ -n $lt && $lt != perf && $lt != raw_tracepoint ]] || continue
    pid_prog=$(awk '$1 == "prog_id:" {print $2}' "$fi")
    pname=$(bpftool prog show id "$pid_prog" 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "name") {print $(i + 1); exit}}')
    fnprobes+=("$lt:${pname:-prog$pid_prog}")
  done
  stop_tracer
  note "fputrace: $tracing_line"
  note "bpftrace twin: ${twin[*]:-none}"
  local configs=(untraced fputrace bpftrace)
  # bt_script FILE PROBE... : a bpftrace script counting on the probes
  bt_script() {
    local file=$1 sepr='' t
    shift
    { for t in "$@"; do printf '%s%s' "$sepr" "$t"; sepr=$',\n'; done
      printf '\n{ @[probe] = count(); }\n'; } >"$file"
  }
  # The syscall tracepoints alone: what they cost every other syscall (any
  # enabled one puts every task's syscalls on the slow entry path).
  syscall_twin=()
  for t in "${twin[@]}"; do [[ $t == tracepoint:syscalls:* ]] && syscall_twin+=("$t"); done
  if ((${#twin[@]})); then
    bt_script "$work/twin.bt" "${twin[@]}"
    if ((${#syscall_twin[@]})); then
      bt_script "$work/syscalls.bt" "${syscall_twin[@]}"
      configs+=(bpftrace-syscalls)
    fi
  else
    configs=(untraced fputrace)
    note "fputrace attached no tracepoint: no bpftrace column"
  fi

  # ---- interleaved rounds ----
  : >"$work/rates" ; : >"$work/attach"
  local r w i c v t n=${#configs[@]}
  local t_start=$SECONDS
  for ((r = 0; r < ROUNDS; r++)); do
    for w in $WORKLOADS; do
      local line="round $((r + 1))/$ROUNDS $w:"
      for ((i = 0; i < n; i++)); do
        c=${configs[$(((i + r) % n))]}
        case $c in
          untraced) v=$(measure "$w") ;;
          fputrace) start_fputrace -o /dev/null; echo "fputrace $attach_s" >>"$work/attach"
            v=$(measure "$w"); stop_tracer ;;
          bpftrace) start_bpftrace "$work/twin.bt" "${#twin[@]}"; echo "bpftrace $attach_s" >>"$work/attach"
            v=$(measure "$w"); stop_tracer ;;
          bpftrace-syscalls) start_bpftrace "$work/syscalls.bt" "${#syscall_twin[@]}"
            v=$(measure "$w"); stop_tracer ;;
        esac
        [[ $v =~ ^[0-9.]+$ ]] || die "workload $w ($c) printed no rate: '$v'"
        echo "$c $w $v" >>"$work/rates"
        line+=" $c=$v"
      done
      note "$line"
    done
  done
  local t_rounds=$((SECONDS - t_start))

  # ---- ring-buffer drops: fputrace --json -o FILE, one run per workload ----
  : >"$work/drops"
  if ((DROPS)); then
    for w in $WORKLOADS uring2; do
      start_fputrace --json -o "$work/watch.json"
      v=$(measure "$w")
      stop_tracer
      local s
      s=$(grep '"event":"summary"' "$work/watch.json" | tail -n1)
      [[ -n $s ]] || die "fputrace --json printed no summary line for $w"
      get() { grep -o "\"$1\":[0-9]*" <<<"$s" | cut -d: -f2; }
      echo "fputrace $w $v $(get ringbuf_drops) $(get map_full) $(get undecodable)" >>"$work/drops"
      note "drops $w: rate $v, ringbuf_drops $(get ringbuf_drops)"
    done
  fi

  # ---- report ----
  echo
  echo "## This machine: $(date -u +%F), kernel $(uname -r), $(cpu_model) x $(nproc)"
  echo
  echo "fputrace $tracing_line."
  echo "Medians of $ROUNDS interleaved rounds of ${DURATION} s (order rotated each round);"
  echo "fputrace: \`fputrace watch -o /dev/null\` (all mounts); bpftrace $(bpftrace --version | awk '{print $2}'):"
  echo "\`@[probe] = count()\` on the ${#twin[@]} tracepoints fputrace attached: $(echo "${twin[@]:-none}" | sed 's/tracepoint://g')."
  if ((${#syscall_twin[@]})); then
    echo "bpftrace-syscalls: the same script on fputrace's syscall tracepoints only ($(echo "${syscall_twin[@]}" | sed 's/tracepoint://g')):"
    echo "what those cost every other syscall, whichever tool enables them."
  fi
  if ((${#fnprobes[@]})); then
    echo "Function probes of fputrace with no bpftrace twin here: ${fnprobes[*]}."
  else
    echo "fputrace attached no function probe (fentry/kprobe do not load on this kernel), so the twin is exact."
  fi
  echo "fio $(fio --version | sed 's/^fio-//'), files of $FIO_SIZE; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  rate_table "$work/rates" "${configs[@]}"
  echo
  echo "Every round (rates):"
  raw_rounds "$work/rates" "${configs[@]}"
  echo
  attach_table "$work/attach"
  if ((DROPS)); then
    echo
    drops_table "$work/drops"
  fi
  echo
  note "host part: $((SECONDS - host_t0)) s (rounds $t_rounds s)"
}

# ---- the QEMU part ----------------------------------------------------------------

qemu_bench() {
  command -v qemu-system-x86_64 >/dev/null || die "missing qemu-system-x86_64 (scripts/install-deps.sh installs it)"
  "$root/tests/qemu/fetch-kernels.sh" "$QEMU_SUITE" >&2
  local p=$work/payload
  mkdir -p "$p"
  cp "$FPUTRACE" "$OPS_LOOP" "$(command -v fio)" "$p/"
  truncate -s 192M "$p/ext4.img"
  mkfs.ext4 -q -F "$p/ext4.img"
  cat >"$p/bench.env" <<EOF
ROUNDS=$QEMU_ROUNDS
DURATION=$QEMU_DURATION
WORKLOADS="$WORKLOADS"
DROPS=$QEMU_DROPS
FIO_SIZE=$FIO_SIZE
BACKENDS="$QEMU_BACKENDS"
EOF
  local log=${BENCH_QEMU_LOG:-$work/qemu.log} rc=0 t0=$SECONDS
  note "booting $QEMU_SUITE in QEMU (TCG); about 20 min with the defaults (-icount), output at the end (serial log: $log)"
  local icount=$QEMU_ICOUNT
  [[ $icount != off ]] || icount=''
  FPUTRACE_QEMU_ICOUNT=$icount "$root/tests/qemu/boot.sh" --suite "$QEMU_SUITE" --payload "$p" --script "$root/bench/qemu-guest.sh" \
    --out "$log" --timeout "$QEMU_TIMEOUT" --mem 3G || rc=$?
  if ((rc != 0)); then
    grep -a '^BENCH' "$log" | tail -n 20 >&2 || true
    tail -n 30 "$log" >&2
    # A guest that died mid-run (under TCG: see docs/performance.md, "Caution")
    # still measured its first rounds: print them, marked, then fail.
    grep -aq '^BENCH I configs ' "$log" && grep -aq '^BENCH R ' "$log" ||
      die "the guest benchmark failed (status $rc; log $log)"
    note "the guest benchmark failed (status $rc; log $log): the tables below hold only the rounds it finished"
  fi
  local d=$work/q
  mkdir -p "$d"
  grep -a '^BENCH R ' "$log" | cut -d' ' -f3- >"$d/rates"
  grep -a '^BENCH A ' "$log" | cut -d' ' -f3- >"$d/attach"
  # No drop runs (BENCH_QEMU_DROPS=0): no D lines, an empty file, not a failure under pipefail.
  { grep -a '^BENCH D ' "$log" || true; } | cut -d' ' -f3- >"$d/drops"
  local kernel configs
  kernel=$(grep -a '^BENCH I kernel ' "$log" | cut -d' ' -f4-)
  read -r -a configs <<<"$(grep -a '^BENCH I configs ' "$log" | cut -d' ' -f4-)"
  echo
  echo "## QEMU TCG, Debian $QEMU_SUITE: $(date -u +%F), guest kernel $kernel, 2 vCPUs on $(cpu_model)"
  echo
  if [[ $QEMU_ICOUNT != off ]]; then
    echo "Software emulation with -icount $QEMU_ICOUNT: the guest's clock counts instructions (1 ns each), so a"
    echo "rate is operations per 10^9 guest instructions, and a ratio is the instructions an operation costs"
    echo "untraced over what it costs traced (every instruction counts alike: no cache or pipeline effects)."
  fi
  if ((rc != 0)); then
    echo "**PARTIAL: the guest failed (status $rc) before the end; medians over the rounds it finished (\"Every round\" below).**"
  fi
  echo "Software emulation: compare ratios, not rates. Medians of $QEMU_ROUNDS interleaved rounds of ${QEMU_DURATION} s"
  echo "(order rotated each round); each traced column is one \`fputrace watch --backend B -o /dev/null\` (all mounts)"
  echo "per round, running all the workloads (a start takes seconds under TCG); drop runs: one fputrace per workload."
  grep -a '^BENCH T ' "$log" | cut -d' ' -f3- | sed 's/^/- /'
  echo
  rate_table "$d/rates" "${configs[@]}"
  echo
  echo "Every round (rates):"
  raw_rounds "$d/rates" "${configs[@]}"
  echo
  attach_table "$d/attach"
  if [[ -s $d/drops ]]; then
    echo
    drops_table "$d/drops"
  fi
  echo
  note "QEMU part: $((SECONDS - t0)) s"
  ((rc == 0)) || die "the guest benchmark failed (status $rc; log $log); the tables above are partial"
}

host_t0=$SECONDS
if ((run_host)); then host_bench; fi
if ((run_qemu)); then qemu_bench; fi
