#!/bin/sh
# Data-parallel training between two "machines" joined by a network: two network namespaces
# (ip netns) linked by a veth pair, 10.231.0.1 and 10.231.0.2, with nothing else between them.
# mpirun runs in the first namespace; Open MPI's launcher reaches the second through
# plm_rsh_agent, a script that runs the daemon's command in that namespace (`ip netns exec`)
# where a cluster would use ssh. The ranks talk over TCP on the veth only (btl tcp,self;
# btl_tcp_if_include and oob_tcp_if_include name the subnet: the interface names differ between
# the namespaces). test_data_parallel then checks the sums, the sharded optimiser and resume as
# on one machine, and the veth's counters show that its traffic crossed the link.
#
# Open MPI 4.1 launches this way as it is: a host it does not find among its own addresses goes
# to the agent as "AGENT HOST orted ARGS..." (one shell command), and the daemon inherits
# mpirun's environment through it. The namespaces share the host name (same UTS namespace),
# which Open MPI does not mind, since it names the nodes by the --host entries.
#
# Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2; skipped (exit 77) without them,
# where namespaces cannot be made (a container without those rights), or in a build without MPI.
#   netns_tcp.sh MPIEXEC TEST_BINARY
set -u
mpiexec=$1 bin=$2
skip() { echo "skipped: $*"; exit 77; }
[ -n "$mpiexec" ] || skip "xtc was built without MPI"
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null 2>&1 || skip "no ip command (Debian: apt-get install iproute2)"

# names unique to this run: ctest may run other tests at the same time
a=xtc$$a b=xtc$$b va=xv$$a vb=xv$$b
tmp=$(mktemp -d)
cleanup() {
    ip netns del "$a" 2>/dev/null
    ip netns del "$b" 2>/dev/null # the veth pair goes with its namespaces
    rm -rf "$tmp"
}
trap cleanup EXIT
# `ip netns exec` remounts /sys in a mount namespace of its own, which needs / to be a mount
# point: inside a plain chroot it is not ("mount --make-rslave / failed"), and the namespaces'
# own mounts could not be undone there either
awk '$5 == "/" { found = 1 } END { exit !found }' /proc/self/mountinfo 2>/dev/null ||
    skip "/ is not a mount point here (a chroot?): ip netns exec cannot run"
ip netns add "$a" 2>"$tmp/err" || skip "cannot create a network namespace: $(cat "$tmp/err")"
ip netns add "$b" || exit 1
set -e
ip link add "$va" type veth peer name "$vb"
ip link set "$va" netns "$a"
ip link set "$vb" netns "$b"
ip -n "$a" addr add 10.231.0.1/24 dev "$va"
ip -n "$b" addr add 10.231.0.2/24 dev "$vb"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "$va" up
ip -n "$b" link set "$vb" up
set +e

# the launcher agent: "AGENT HOST COMMAND..." runs COMMAND in HOST's namespace
cat >"$tmp/agent" <<AGENT
#!/bin/sh
host=\$1
shift
case \$host in
10.231.0.1) exec ip netns exec $a sh -c "\$*" ;;
10.231.0.2) exec ip netns exec $b sh -c "\$*" ;;
esac
echo "agent: unknown host \$host" >&2
exit 1
AGENT
chmod +x "$tmp/agent"

tx() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_bytes"; }
tx_a=$(tx "$a" "$va") tx_b=$(tx "$b" "$vb")
mkdir "$tmp/scratch"
OMP_NUM_THREADS=1 ip netns exec "$a" "$mpiexec" -n 2 --host 10.231.0.1,10.231.0.2 -x OMP_NUM_THREADS \
    --mca plm_rsh_agent "$tmp/agent" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 \
    "$bin" "$tmp/scratch"
rc=$?
sent_a=$(($(tx "$a" "$va") - tx_a)) sent_b=$(($(tx "$b" "$vb") - tx_b))
echo "over the veth pair: $sent_a bytes from 10.231.0.1, $sent_b bytes from 10.231.0.2"
[ $rc -eq 0 ] || { echo "FAIL: test_data_parallel across the namespaces: status $rc"; exit 1; }
# the trainers' gradient sums and broadcasts are megabytes each way; the launch alone is kilobytes
if [ "$sent_a" -lt 1000000 ] || [ "$sent_b" -lt 1000000 ]; then
    echo "FAIL: the ranks' traffic did not cross the veth pair"
    exit 1
fi
echo "ok: 2 ranks in two network namespaces over TCP"
