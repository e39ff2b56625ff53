#!/bin/sh
# Runs in a QEMU guest (tests/qemu/boot.sh), booted by `scripts/bench.sh --qemu`:
# the host benchmark's workloads, untraced and under `fputrace watch -o /dev/null`
# with each backend that loads (fentry, kprobe, tracepoint), in interleaved rounds
# (order rotated each round; one fputrace per round and backend runs all the
# workloads; the drop runs start one per workload). Payload: fputrace, ops_loop, fio (+ its libraries),
# ext4.img (an empty ext4 image) and bench.env (ROUNDS DURATION WORKLOADS DROPS
# FIO_SIZE BACKENDS; a backend B-empty is B with FPUTRACE_BENCH_EMPTY_HOOKS=1,
# kprobe-single is kprobe with FPUTRACE_KPROBE_MULTI=0: plain kprobes on fput).
# Prints machine-readable lines for the host to tabulate:
#   BENCH I key value...                 facts (kernel, configs)
#   BENCH T text                         each backend's "tracing with" line
#   BENCH R config workload rate         one measurement
#   BENCH A config seconds               start to attached
#   BENCH D config workload rate ringbuf_drops map_full undecodable
# Under TCG absolute rates are meaningless; compare ratios.
# The tracer attaches and detaches while the guest is idle (see docs/performance.md
# on the int3 artifact seen when fentry was attached to fput under load), and the
# guest then settles for SETTLE seconds before anything is measured: attaching or
# detaching a probe patches kernel text, and TCG retranslates the code around it
# for a while afterwards, which otherwise slows the first measurements (traced
# and untraced alike) by up to half.
set -u
. ./bench.env
fail() {
	echo "BENCH FAIL $*"
	[ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null
	exit 1
}
up() { cut -d' ' -f1 /proc/uptime; }
pid=''

echo "BENCH I kernel $(uname -r)"
mkdir -p /mnt/t /mnt/e
mount -t tmpfs -o size=512M bench /mnt/t || fail "mount tmpfs"
head -c 4096 /dev/urandom >/mnt/t/small
dev=$(losetup -f) && losetup "$dev" /payload/ext4.img || fail "losetup"
mount -t ext4 "$dev" /mnt/e || fail "mount ext4"
for f in /mnt/t/data /mnt/e/data; do
	fio --name=layout --filename=$f --size="$FIO_SIZE" --rw=write --bs=1M --ioengine=psync \
		--output=/dev/null >/dev/null 2>/tmp/fio.err || { cat /tmp/fio.err; fail "fio layout $f"; }
done
sync

# measure WORKLOAD: prints the rate
measure() {
	case $1 in
	uring) out=$(fio --name=bench --filename=/mnt/t/data --size="$FIO_SIZE" --ioengine=io_uring --rw=randread \
		--bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal 2>/tmp/w.err) ;;
	uring-reg) out=$(fio --name=bench --filename=/mnt/t/data --size="$FIO_SIZE" --ioengine=io_uring --rw=randread \
		--bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal --registerfiles 2>/tmp/w.err) ;;
	uring2) out=$(fio --name=bench --filename=/mnt/t/data --size="$FIO_SIZE" --ioengine=io_uring --rw=randread \
		--bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal --numjobs=2 --group_reporting 2>/tmp/w.err) ;;
	aio) out=$(fio --name=bench --filename=/mnt/e/data --size="$FIO_SIZE" --ioengine=libaio --direct=1 --rw=randread \
		--bs=4k --iodepth=32 --time_based --runtime="$DURATION" --minimal 2>/tmp/w.err) ;;
	open) out=$(ops_loop open /mnt/t/small "$DURATION" 2>/tmp/w.err) ;;
	fork) out=$(ops_loop fork "$DURATION" 2>/tmp/w.err) ;;
	esac || { cat /tmp/w.err; return 1; }
	case $1 in
	open | fork) echo "$out" | awk '{print $(NF - 1)}' ;;
	*) echo "$out" | awk -F';' '{print $8}' ;;
	esac
}

# start BACKEND ARGS...: fputrace watch until its "tracing with" line; sets pid and secs
start() {
	b=$1
	shift
	: >/tmp/ft.err
	t0=$(up)
	# B-empty: backend B with the hot programs returning at once (the cost
	# of entering them, without their work)
	case $b in
	*-empty) FPUTRACE_BENCH_EMPTY_HOOKS=1 fputrace watch --backend "${b%-empty}" "$@" 2>>/tmp/ft.err & ;;
	kprobe-single) FPUTRACE_KPROBE_MULTI=0 fputrace watch --backend kprobe "$@" 2>>/tmp/ft.err & ;;
	*) fputrace watch --backend "$b" "$@" 2>>/tmp/ft.err & ;;
	esac
	pid=$!
	until grep -q 'tracing with' /tmp/ft.err; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			pid=''
			return 1
		fi
		sleep 0.05
	done
	secs=$(awk -v a="$t0" -v b="$(up)" 'BEGIN {printf "%.2f", b - a}')
	sleep "${SETTLE:-5}"
}
stop() {
	kill -INT "$pid"
	wait "$pid" || { cat /tmp/ft.err; fail "fputrace exited with status $?"; }
	pid=''
	sleep "${SETTLE:-5}"
}

# Which backends load here.
configs=untraced
for b in ${BACKENDS:-fentry kprobe tracepoint}; do
	if start "$b" -o /dev/null; then
		echo "BENCH T $b: $(grep -m1 'tracing with' /tmp/ft.err | sed 's/^fputrace: //')"
		stop
		configs="$configs $b"
	else
		echo "BENCH T $b: does not load: $(tail -n1 /tmp/ft.err)"
	fi
done
echo "BENCH I configs $configs"
n=$(echo $configs | wc -w)

# One fputrace per round and backend, all workloads under it: under TCG a start
# takes seconds (BTF, verifier, kprobe registration).
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	i=0
	while [ "$i" -lt "$n" ]; do
		c=$(echo $configs | cut -d' ' -f$(((i + r) % n + 1)))
		if [ "$c" != untraced ]; then
			start "$c" -o /dev/null || { cat /tmp/ft.err; fail "fputrace --backend $c"; }
			echo "BENCH A $c $secs"
		fi
		for w in $WORKLOADS; do
			full=$DURATION DURATION=1
			measure "$w" >/dev/null || fail "warm-up $w under $c"
			DURATION=$full
			v=$(measure "$w") || fail "workload $w under $c"
			echo "BENCH R $c $w $v"
		done
		[ "$c" = untraced ] || stop
		i=$((i + 1))
	done
	r=$((r + 1))
done

if [ "$DROPS" = 1 ]; then
	for c in $configs; do
		[ "$c" = untraced ] && continue
		for w in $WORKLOADS uring2; do
			start "$c" --json -o /tmp/watch.json || { cat /tmp/ft.err; fail "fputrace --backend $c --json"; }
			v=$(measure "$w") || fail "workload $w under $c"
			stop
			s=$(grep '"event":"summary"' /tmp/watch.json | tail -n1)
			[ -n "$s" ] || fail "no summary line from fputrace --backend $c --json ($w)"
			get() { echo "$s" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
			echo "BENCH D $c $w $v $(get ringbuf_drops) $(get map_full) $(get undecodable)"
		done
	done
fi
umount /mnt/e
losetup -d "$dev"
umount /mnt/t
echo "BENCH I done"
