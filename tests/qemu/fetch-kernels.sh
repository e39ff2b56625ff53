#!/usr/bin/env bash
# Fetch Debian cloud kernels (vmlinuz + loop module) for booting under QEMU.
#
# Usage: tests/qemu/fetch-kernels.sh [SUITE...]   (bullseye bookworm trixie sid; default: all)
#        FPUTRACE_ARCH=arm64 tests/qemu/fetch-kernels.sh [SUITE...]   (bookworm trixie sid)
#
# FPUTRACE_ARCH (default amd64) selects linux-image-cloud-ARCH. For arm64 the default
# cache is /var/cache/fputrace/kernels-arm64 and an arm64 busybox (static, from
# bookworm's busybox-static) is fetched too, into CACHE/busybox/busybox, because
# the host's busybox cannot run in an arm64 guest.
#
# Result per suite, in ${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels}/SUITE/:
#   vmlinuz            the kernel (arm64: the raw, uncompressed Image, see below)
#   release            kernel release string, e.g. 6.1.0-50-cloud-amd64
#   package            the Debian package(s) it came from, with versions
#   modules/*.ko       loop.ko and the modules it depends on, uncompressed
#   modules/load-order module file names in insmod order (dependencies first)
#   config             (arm64 only) the kernel's .config
# A suite whose directory is complete is left alone; delete it to refetch.
set -euo pipefail

die() { echo "fetch-kernels.sh: $*" >&2; exit 1; }

ARCH=${FPUTRACE_ARCH:-amd64}
case $ARCH in
    amd64)
        CACHE=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels}
        ALL_SUITES=(bullseye bookworm trixie sid) ;;
    arm64)
        CACHE=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels-arm64}
        ALL_SUITES=(bookworm trixie sid) ;;
    *) die "FPUTRACE_ARCH '$ARCH' not supported (want amd64 or arm64)" ;;
esac
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
(($#)) || set -- "${ALL_SUITES[@]}"
for s in "$@"; do
    [[ " ${ALL_SUITES[*]} " == *" $s "* ]] || die "unknown suite '$s' (want: ${ALL_SUITES[*]})"
done
for tool in apt-get apt-cache dpkg-deb xz zstd $([[ $ARCH == amd64 ]] || echo gzip readelf); do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[[ -r $KEYRING ]] || die "missing $KEYRING (install debian-archive-keyring)"

# Use the Debian archive URI the machine's own apt sources use (e.g. a local mirror).
URI=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^[[:space:]]*#' |
      grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
URI=${URI:-http://deb.debian.org/debian}

decompress() { # FILE.ko[.xz|.zst|.gz] OUT.ko -- busybox insmod only loads plain ELF modules
    case $1 in
        *.ko.xz) xz -dc "$1" >"$2" ;;
        *.ko.zst) zstd -qdc "$1" >"$2" ;;
        *.ko.gz) gzip -dc "$1" >"$2" ;;
        *.ko) cp "$1" "$2" ;;
        *) die "unexpected module file $1" ;;
    esac
}

# Sets up the private apt configuration of SUITE in $CACHE/.apt/SUITE, updates its
# lists and exports APT_CONFIG; prints nothing. apt=... is left set for the caller.
setup_apt() {
    local suite=$1
    apt=$CACHE/.apt/$suite
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/empty" "$apt/debs"

    # A private apt configuration: APT_CONFIG is read before /etc/apt/apt.conf.d,
    # and pointing Dir::Etc::parts/main away means none of the host's config, hooks,
    # sources, pins, lists or caches are read or written.
    echo "deb [signed-by=$KEYRING] $URI $suite main" >"$apt/sources.list"
    cat >"$apt/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$apt/empty";
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/empty";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$apt/empty";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
// Keep the footprint small: compressed lists, no on-disk binary caches (~100 MB each).
Acquire::GzipIndexes "true";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Get::List-Cleanup "false";
Acquire::Languages "none";
// The mirror may be a frozen snapshot whose sid Release has expired; signatures are still checked.
Acquire::Check-Valid-Until "false";
EOF
    if [[ $ARCH != amd64 ]]; then
        # Another architecture's packages, for this private configuration only: the
        # host's dpkg architectures are neither read nor changed.
        cat >>"$apt/apt.conf" <<EOF
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
EOF
    fi
    export APT_CONFIG=$apt/apt.conf
    apt-get -qq update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; die "$suite: apt-get update failed"; }
}

fetch_suite() {
    local suite=$1 out=$CACHE/$1
    if [[ -s $out/vmlinuz && -s $out/release && -s $out/modules/load-order ]]; then
        echo "$suite: cached, $(<"$out/release") in $out"
        return
    fi
    local t0=$SECONDS apt
    setup_apt "$suite"

    # The meta package depends on the versioned image package. In sid that one is
    # itself a meta package depending on linux-{binary,modules,base}-RELEASE, so take
    # every linux-*-RELEASE dependency as well.
    local image rel pkgs
    image=$(apt-cache depends "linux-image-cloud-$ARCH" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
    [[ -n $image ]] || die "$suite: cannot resolve linux-image-cloud-$ARCH"
    rel=${image#linux-image-}
    pkgs=("$image")
    mapfile -t -O 1 pkgs < <(apt-cache depends "$image" |
        awk -v r="-$rel" '$1 ~ /^(Pre)?Depends:$/ && $2 ~ /^linux-/ && substr($2, length($2) - length(r) + 1) == r {print $2}' | sort -u)

    # apt-get download skips files already present with the right hash. It downloads
    # as the unprivileged _apt user, which must be able to write the target directory.
    chown _apt "$apt/debs" 2>/dev/null || true
    (cd "$apt/debs" && apt-get -qq download "${pkgs[@]}") || die "$suite: download of ${pkgs[*]} failed"

    local tmp=$CACHE/.tmp-$suite
    rm -rf "$tmp" && mkdir -p "$tmp/x" "$tmp/out/modules"
    local p deb
    for p in "${pkgs[@]}"; do
        deb=$(ls -t "$apt/debs/${p}_"*.deb 2>/dev/null | head -n1) || true
        [[ -n $deb ]] || die "$suite: $p .deb not found after download"
        dpkg-deb -x "$deb" "$tmp/x"
        dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$tmp/out/package"
    done

    # The package name carries the kernel release. The kernel is boot/vmlinuz-REL,
    # except in sid, where it is (usr/)lib/modules/REL/vmlinuz.
    local vmlinuz moddir config
    echo "$rel" >"$tmp/out/release"
    vmlinuz=$(find "$tmp/x" \( -path "*/boot/vmlinuz-$rel" -o -path "*/lib/modules/$rel/vmlinuz" \) -print -quit)
    [[ -n $vmlinuz ]] || die "$suite: no vmlinuz for $rel in ${pkgs[*]}"
    if [[ $ARCH == arm64 ]]; then
        # arm64 has no self-decompressing zImage. Debian's arm64 vmlinuz (bookworm,
        # trixie, sid as of 2026-12) is the raw Image with an EFI stub; an Image.gz
        # (the kernel's default build target) would be decompressed here, so the
        # cache always holds the raw Image (header magic "ARM\x64" at offset 56).
        # (QEMU 7.2's -kernel boots a gzip'ed Image as well: tried.)
        if cmp -s -n2 "$vmlinuz" <(printf '\037\213'); then
            gzip -dc "$vmlinuz" >"$tmp/out/vmlinuz"
        else
            cp "$vmlinuz" "$tmp/out/vmlinuz"
        fi
        cmp -s -i 56:0 -n4 "$tmp/out/vmlinuz" <(printf 'ARMd') || die "$suite: $vmlinuz is not an arm64 Image"
        # The kernel's .config (boot/config-REL; sid: lib/modules/REL/config), for the record.
        config=$(find "$tmp/x" \( -path "*/boot/config-$rel" -o -path "*/lib/modules/$rel/config" \) -print -quit)
        [[ -z $config ]] || cp "$config" "$tmp/out/config"
    else
        cp "$vmlinuz" "$tmp/out/vmlinuz"
    fi
    moddir=$(find "$tmp/x" -type d -path "*/lib/modules/$rel" -print -quit)
    [[ -n $moddir ]] || die "$suite: no lib/modules/$rel in ${pkgs[*]}"

    # modules.dep is not in the .deb (depmod writes it at install time), so follow
    # the "depends=" field of each module's .modinfo section, which is what depmod
    # reads. Modules are appended after their dependencies: load-order is insmod order.
    add_module() {
        local name=$1 f dep
        [[ -e $tmp/out/modules/$name.ko ]] && return
        f=$(find "$moddir" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) -print -quit)
        [[ -n $f ]] || die "$suite: module $name not found (built in?)"
        decompress "$f" "$tmp/out/modules/$name.ko"
        for dep in $(tr '\0' '\n' <"$tmp/out/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
            add_module "${dep//-/_}"
        done
        echo "$name.ko" >>"$tmp/out/modules/load-order"
    }
    add_module loop

    rm -rf "$out" && mv "$tmp/out" "$out" && rm -rf "$tmp"
    echo "$suite: $(<"$out/release") ($(paste -sd, "$out/modules/load-order")) in $out, $((SECONDS - t0)) s"
}

# arm64 only: a static arm64 busybox for the guest's initramfs, from bookworm's
# busybox-static (the same version as the host's), in CACHE/busybox/.
fetch_busybox() {
    local out=$CACHE/busybox
    if [[ -s $out/busybox && -s $out/package ]]; then
        echo "busybox: cached, $(<"$out/package") in $out"
        return
    fi
    local t0=$SECONDS apt deb tmp=$CACHE/.tmp-busybox
    setup_apt bookworm
    chown _apt "$apt/debs" 2>/dev/null || true
    (cd "$apt/debs" && apt-get -qq download busybox-static) || die "busybox: download of busybox-static ($ARCH) failed"
    deb=$(ls -t "$apt/debs/busybox-static_"*"_$ARCH.deb" 2>/dev/null | head -n1) || true
    [[ -n $deb ]] || die "busybox: busybox-static .deb for $ARCH not found after download"
    rm -rf "$tmp" && mkdir -p "$tmp/x" "$tmp/out"
    dpkg-deb -x "$deb" "$tmp/x"
    cp "$tmp/x/bin/busybox" "$tmp/out/busybox"
    readelf -h "$tmp/out/busybox" | grep -q 'Machine:.*AArch64' || die "busybox: $deb has no AArch64 busybox"
    ! readelf -l "$tmp/out/busybox" | grep -q 'INTERP' || die "busybox: $deb's busybox is not static"
    dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}\n' "$deb" >"$tmp/out/package"
    rm -rf "$out" && mv "$tmp/out" "$out" && rm -rf "$tmp"
    echo "busybox: $(<"$out/package") in $out, $((SECONDS - t0)) s"
}

mkdir -p "$CACHE" || die "cannot create $CACHE (run as root or set FPUTRACE_KERNEL_CACHE)"
# Serialize concurrent runs (parallel CI jobs) on the shared cache.
exec 9>"$CACHE/.lock"
flock 9
for s in "$@"; do fetch_suite "$s"; done
[[ $ARCH == amd64 ]] || fetch_busybox
