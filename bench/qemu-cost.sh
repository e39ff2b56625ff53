#!/bin/sh
# Runs in a QEMU guest (tests/qemu/boot.sh), booted by `scripts/bench-cost.sh`:
# what each of fputrace's BPF programs costs per call, from the kernel's own
# counters (kernel.bpf_stats_enabled: run_cnt and run_time_ns per program).
# Unlike the IOPS ratios of bench.sh, which TCG and a busy host blur by 15% and
# more, these say which program's work a request pays for.
#
# For each backend in BACKENDS: `fputrace watch --backend B -o /dev/null` on all
# mounts, a settle, the counters on, one fio io_uring 4k random-read job at qd32
# on tmpfs for DURATION s (with --registerfiles if REGISTER=1), the counters
# read before and after with bpftool. A backend B-empty is B with
# FPUTRACE_BENCH_EMPTY_HOOKS=1 (the floor of a call). Payload: fputrace, fio, bpftool (+ their
# libraries), cost.env (BACKENDS DURATION FIO_SIZE REGISTER).
# Prints, for the host to tabulate:
#   COST I key value...              facts
#   COST R backend requests          the fio job's requests (IOPS x seconds)
#   COST P backend name runs ns      one program: calls and run time in the job
set -u
. ./cost.env
fail() {
	echo "COST FAIL $*"
	[ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null
	exit 1
}
pid=''

echo "COST I kernel $(uname -r)"
mkdir -p /mnt/t
mount -t tmpfs -o size=512M bench /mnt/t || fail "mount tmpfs"
fio --name=layout --filename=/mnt/t/data --size="$FIO_SIZE" --rw=write --bs=1M --ioengine=psync \
	--output=/dev/null >/dev/null 2>/tmp/fio.err || { cat /tmp/fio.err; fail "fio layout"; }

# counters FILE: "id name run_cnt run_time_ns" per program with counters
counters() {
	bpftool prog show 2>/dev/null | awk '
		/^[0-9]+:/ {
			id = $1; sub(":", "", id); name = "-"; cnt = 0; ns = 0
			for (i = 2; i <= NF; i++) {
				if ($i == "name") name = $(i + 1)
				if ($i == "run_time_ns") ns = $(i + 1)
				if ($i == "run_cnt") cnt = $(i + 1)
			}
			print id, name, cnt, ns
		}' >"$1"
}

job() {
	reg=''
	[ "${REGISTER:-0}" = 1 ] && reg=--registerfiles
	fio --name=cost --filename=/mnt/t/data --size="$FIO_SIZE" --ioengine=io_uring --rw=randread \
		--bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal $reg 2>/tmp/w.err |
		awk -F';' -v d="$DURATION" '{printf "%d\n", $8 * d}'
}

for b in $BACKENDS; do
	: >/tmp/ft.err
	# B-empty: backend B with the hot programs returning at once. Their run
	# time per call is the floor of the counters themselves (two clock reads
	# around each run) plus entering the program: subtract it to get the work.
	case $b in
	*-empty) FPUTRACE_BENCH_EMPTY_HOOKS=1 fputrace watch --backend "${b%-empty}" -o /dev/null 2>>/tmp/ft.err & ;;
	*) fputrace watch --backend "$b" -o /dev/null 2>>/tmp/ft.err & ;;
	esac
	pid=$!
	until grep -q 'tracing with' /tmp/ft.err; do
		kill -0 "$pid" 2>/dev/null || { cat /tmp/ft.err; echo "COST I skipped $b"; pid=''; continue 2; }
		sleep 0.05
	done
	echo "COST I started $b: $(grep -m1 'tracing with' /tmp/ft.err | sed 's/^fputrace: tracing with //; s/;.*//')"
	grep -v 'tracing with' /tmp/ft.err | grep -v '^[0-9]*: \|^; ' | tail -n 40 | sed 's/^/COST E /' 
	sleep 5 # TCG retranslates the patched code for a while (docs/performance.md)
	echo 1 >/proc/sys/kernel/bpf_stats_enabled || fail "kernel.bpf_stats_enabled"
	counters /tmp/before
	n=$(job) || { cat /tmp/w.err; fail "fio under $b"; }
	counters /tmp/after
	echo 0 >/proc/sys/kernel/bpf_stats_enabled
	kill -INT "$pid"
	wait "$pid" || { cat /tmp/ft.err; fail "fputrace --backend $b exited with status $?"; }
	pid=''
	echo "COST R $b $n"
	awk -v b="$b" 'NR == FNR { cnt[$1] = $3; ns[$1] = $4; next }
		$3 - cnt[$1] > 0 { print "COST P", b, $2, $3 - cnt[$1], $4 - ns[$1] }' /tmp/before /tmp/after
	sleep 5
done
echo "COST I done"
