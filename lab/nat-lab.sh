#!/usr/bin/env bash
# NAT lab: real NATs built from Linux network namespaces, veth pairs and nftables.
#
#   client (rpn-<id>-cli)  --lan--  NAT (rpn-<id>-nat)  --wan--  public (rpn-<id>-pub)
#   192.0.2.2/24                   192.0.2.1 | 198.51.100.2       198.51.100.1
#                                                                 203.0.113.1, .2  coturn, RFC 5780
#                                                                 203.0.113.3, .4  coturn, no RFC 5780
#                                                                 203.0.113.5, .6  stund, classic RFC 3489
#
# Only the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24
# are used, and only inside the lab's own namespaces. Every namespace name starts
# with "rpn-". Needs root, iproute2, nftables, coturn (turnserver) and stund
# (Debian package stun-server).
#
#   nat-lab.sh list
#   nat-lab.sh up <topology> [--id ID] [--portmap upnp,natpmp,pcp|none]
#                                          build a lab (replaces a lab with the same id);
#                                          --portmap runs miniupnpd on the NAT's LAN side
#   nat-lab.sh down [--id ID | --all]      remove a lab (processes, namespaces, state)
#   nat-lab.sh status [--id ID]
#   nat-lab.sh exec [--id ID] -- <cmd...>  run a command inside the client namespace
set -euo pipefail

STATE_ROOT=${RPN_LAB_STATE:-/run/rtcprobe-nat-lab}
STUN_PORT=3478

CLIENT_IP=192.0.2.2
NAT_LAN_IP=192.0.2.1
NAT_WAN_IP=198.51.100.2
PUB_WAN_IP=198.51.100.1
SERVER_IP1=203.0.113.1
SERVER_IP2=203.0.113.2
PLAIN_IP1=203.0.113.3
PLAIN_IP2=203.0.113.4
# A classic RFC 3489 server (stund): CHANGED-ADDRESS instead of OTHER-ADDRESS.
CLASSIC_IP1=203.0.113.5
CLASSIC_IP2=203.0.113.6
STUND=${STUND:-/usr/sbin/stund}

TOPOLOGIES=(none eim-eif eim-adf eim-apdf apdm udp-blocked hairpin no-rfc5780)

describe() {
  case "$1" in
    none) echo "no NAT: the client address is routed as is (open internet)" ;;
    eim-eif) echo "1:1 port-preserving NAT: endpoint-independent mapping and filtering (full cone), no hairpinning" ;;
    eim-adf) echo "1:1 port-preserving NAT: endpoint-independent mapping, address-dependent filtering (restricted cone)" ;;
    eim-apdf) echo "plain masquerade: endpoint-independent mapping, address-and-port-dependent filtering (port-restricted cone)" ;;
    apdm) echo "masquerade with fully random ports: address-and-port-dependent mapping (symmetric)" ;;
    udp-blocked) echo "the NAT drops every UDP datagram" ;;
    hairpin) echo "like eim-eif, and the NAT hairpins client-to-own-public-address traffic" ;;
    no-rfc5780) echo "plain masquerade; the public servers (203.0.113.3 and .4) do not support RFC 5780" ;;
    *) return 1 ;;
  esac
}

die() { echo "nat-lab: $*" >&2; exit 2; }

need_tools() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces and nftables)"
  for t in ip nft turnserver; do command -v "$t" >/dev/null || die "needs $t"; done
}

ID=lab
PORTMAP=
parse_id() {
  ALL=0
  REST=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --portmap) [ $# -ge 2 ] || die "--portmap needs a value"; PORTMAP=$2; shift 2 ;;
      --portmap=*) PORTMAP=${1#--portmap=}; shift ;;
      --id) [ $# -ge 2 ] || die "--id needs a value"; ID=$2; shift 2 ;;
      --id=*) ID=${1#--id=}; shift ;;
      --all) ALL=1; shift ;;
      --) shift; REST+=("$@"); break ;;
      *) REST+=("$1"); shift ;;
    esac
  done
  [[ "$ID" =~ ^[a-z0-9]{1,12}$ ]] || die "--id must be 1-12 characters a-z0-9"
}

ns() { echo "rpn-$ID-$1"; }

# Kill the processes this lab started (pid files), then anything still living in its namespaces.
lab_down() {
  local dir="$STATE_ROOT/$ID" n pid
  if [ -d "$dir" ]; then
    for f in "$dir"/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
    done
  fi
  for n in cli nat pub; do
    if [ -e "/run/netns/$(ns $n)" ]; then
      for pid in $(ip netns pids "$(ns $n)" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    fi
  done
  # Bounded wait for the processes to exit, then force.
  for _ in $(seq 1 30); do
    local alive=0
    for n in cli nat pub; do
      [ -e "/run/netns/$(ns $n)" ] && [ -n "$(ip netns pids "$(ns $n)" 2>/dev/null)" ] && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for n in cli nat pub; do
    if [ -e "/run/netns/$(ns $n)" ]; then
      for pid in $(ip netns pids "$(ns $n)" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$(ns $n)" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

# Port-mapping services: miniupnpd in the NAT namespace, on the LAN interface.
# miniupnpd serves NAT-PMP and PCP on one switch (enable_natpmp), so "natpmp"
# and "pcp" must be chosen together.
MINIUPNPD=${MINIUPNPD:-/usr/sbin/miniupnpd}
portmap_parse() { # list -> PM_UPNP, PM_NATPMP (yes/no)
  PM_UPNP=no PM_NATPMP=no
  local want_pmp=0 want_pcp=0 s items
  [ "$1" = none ] && return 0
  IFS=, read -r -a items <<<"$1"
  for s in "${items[@]}"; do
    case "$s" in
      upnp) PM_UPNP=yes ;;
      natpmp) want_pmp=1 ;;
      pcp) want_pcp=1 ;;
      *) die "unknown --portmap service \"$s\" (upnp, natpmp, pcp, none)" ;;
    esac
  done
  [ $want_pmp = $want_pcp ] || die "--portmap: miniupnpd serves NAT-PMP and PCP together; give both natpmp,pcp or neither"
  [ $want_pmp = 1 ] && PM_NATPMP=yes
  return 0
}

start_miniupnpd() {
  local dir="$STATE_ROOT/$ID" log
  [ "$PM_UPNP" = yes ] || [ "$PM_NATPMP" = yes ] || return 0
  log="$dir/miniupnpd.log"
  # The nftables build of miniupnpd adds its rules to chains it expects to
  # exist; an unhooked table of its own leaves the lab's ruleset as it is.
  printf '%s\n' 'table inet rpnupnp {' '  chain miniupnpd { }' '  chain prerouting_miniupnpd { }' \
    '  chain postrouting_miniupnpd { }' '}' | ip netns exec "$(ns nat)" nft -f -
  # The WAN address is a documentation address, which miniupnpd counts as
  # reserved and then refuses to report (NAT-PMP result 3, an empty UPnP
  # answer). Asking the lab's own STUN server, which sees the WAN address
  # unchanged, makes miniupnpd accept it as public.
  cat >"$dir/miniupnpd.conf" <<CONF
ext_ifname=wan
listening_ip=lan
port=0
enable_upnp=$PM_UPNP
enable_natpmp=$PM_NATPMP
ext_perform_stun=yes
ext_stun_host=$SERVER_IP1
ext_stun_port=$STUN_PORT
secure_mode=yes
system_uptime=yes
upnp_table_name=rpnupnp
upnp_nat_table_name=rpnupnp
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
lease_file=$dir/miniupnpd.leases
uuid=$(cat /proc/sys/kernel/random/uuid)
allow 1024-65535 192.0.2.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
  # -d: foreground, so the recorded pid is miniupnpd's own.
  ip netns exec "$(ns nat)" "$MINIUPNPD" -d -f "$dir/miniupnpd.conf" -P "$dir/miniupnpd.ownpid" >"$log" 2>&1 &
  echo $! >"$dir/miniupnpd.pid"
  # Bounded wait for the services asked for (STUN at start takes up to 3 s).
  for _ in $(seq 1 200); do
    if { [ "$PM_NATPMP" = no ] || grep -q "Listening for NAT-PMP/PCP traffic" "$log"; } &&
      { [ "$PM_UPNP" = no ] || grep -q "HTTP listening on port" "$log"; }; then
      echo "$PM_UPNP $PM_NATPMP" >"$dir/portmap"
      return 0
    fi
    kill -0 "$(cat "$dir/miniupnpd.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "nat-lab: miniupnpd did not start; log:" >&2
  tail -n 30 "$log" >&2 || true
  return 1
}

start_coturn() { # name ip...  (extra flags in COTURN_EXTRA)
  local name=$1; shift
  local dir="$STATE_ROOT/$ID"
  local args=(-c /dev/null --no-cli --stun-only --no-tls --no-dtls --no-auth --log-file stdout --simple-log
    --listening-port "$STUN_PORT" --alt-listening-port $((STUN_PORT + 1)) --pidfile "$dir/$name.turnpid")
  for ip in "$@"; do args+=(--listening-ip "$ip"); done
  # shellcheck disable=SC2206
  args+=(${COTURN_EXTRA:-})
  ip netns exec "$(ns pub)" turnserver "${args[@]}" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

# stund binds both addresses, each on the STUN port and the next one; it runs in
# the foreground, so its pid is the one recorded.
start_stund() { # name ip1 ip2
  local dir="$STATE_ROOT/$ID"
  ip netns exec "$(ns pub)" "$STUND" -h "$2" -a "$3" -p "$STUN_PORT" -o $((STUN_PORT + 1)) >"$dir/$1.log" 2>&1 &
  echo $! >"$dir/$1.pid"
}

# Bounded wait until a server has bound the UDP ports we expect.
wait_listening() { # ip port
  for _ in $(seq 1 100); do
    if ip netns exec "$(ns pub)" ss -Hnlu "src $1:$2" 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.05
  done
  echo "nat-lab: no server listens on $1:$2; log:" >&2
  tail -n 30 "$STATE_ROOT/$ID"/*.log >&2 || true
  return 1
}

nft_rules() { # topology
  local t=$1
  echo "table ip rpnlab {"
  case "$t" in
    eim-eif|eim-adf|hairpin)
      cat <<EOF
  set mapped { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 120s; }
  set contacted { type ipv4_addr . inet_service . ipv4_addr; flags dynamic, timeout; timeout 120s; }
  chain nat_pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" ip daddr $NAT_WAN_IP dnat to $CLIENT_IP
EOF
      [ "$t" = hairpin ] && echo "    iifname \"lan\" ip daddr $NAT_WAN_IP dnat to $CLIENT_IP"
      cat <<EOF
  }
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ip saddr $CLIENT_IP snat to $NAT_WAN_IP
EOF
      [ "$t" = hairpin ] && echo "    iifname \"lan\" oifname \"lan\" ip saddr $CLIENT_IP snat to $NAT_WAN_IP"
      cat <<EOF
  }
  chain filter_forward {
    type filter hook forward priority filter; policy drop;
    iifname "lan" oifname "wan" meta l4proto udp update @mapped { ip saddr . udp sport } update @contacted { ip saddr . udp sport . ip daddr } accept
    iifname "lan" oifname "wan" accept
EOF
      if [ "$t" = eim-adf ]; then
        echo "    iifname \"wan\" oifname \"lan\" meta l4proto udp ip daddr . udp dport . ip saddr @contacted accept"
      else
        echo "    iifname \"wan\" oifname \"lan\" meta l4proto udp ip daddr . udp dport @mapped accept"
      fi
      cat <<EOF
    iifname "wan" oifname "lan" ct state established,related accept
EOF
      [ "$t" = hairpin ] && echo "    iifname \"lan\" oifname \"lan\" accept"
      echo "  }"
      ;;
    eim-apdf|no-rfc5780|apdm|udp-blocked)
      local how=masquerade
      [ "$t" = apdm ] && how="masquerade fully-random"
      cat <<EOF
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" $how
  }
  chain filter_forward {
    type filter hook forward priority filter; policy drop;
EOF
      [ "$t" = udp-blocked ] && echo "    meta l4proto udp drop"
      cat <<EOF
    iifname "lan" oifname "wan" accept
    iifname "wan" oifname "lan" ct state established,related accept
  }
EOF
      ;;
    none)
      cat <<EOF
  chain filter_forward {
    type filter hook forward priority filter; policy accept;
  }
EOF
      ;;
  esac
  echo "}"
}

lab_up() {
  local t=$1 dir="$STATE_ROOT/$ID"
  describe "$t" >/dev/null || die "unknown topology \"$t\" (see: list)"
  lab_down
  mkdir -p "$dir"
  echo "$t" >"$dir/topology"
  # Anything failing from here on leaves nothing behind.
  trap 'rc=$?; [ $rc = 0 ] || { echo "nat-lab: setup failed, cleaning up" >&2; lab_down; }' EXIT

  ip netns add "$(ns cli)"
  ip netns add "$(ns nat)"
  ip netns add "$(ns pub)"
  for n in cli nat pub; do ip -n "$(ns $n)" link set lo up; done

  ip -n "$(ns cli)" link add lan type veth peer name lan netns "$(ns nat)"
  ip -n "$(ns nat)" link add wan type veth peer name wan netns "$(ns pub)"

  ip -n "$(ns cli)" addr add "$CLIENT_IP/24" dev lan
  ip -n "$(ns cli)" link set lan up
  ip -n "$(ns cli)" route add default via "$NAT_LAN_IP"

  ip -n "$(ns nat)" addr add "$NAT_LAN_IP/24" dev lan
  ip -n "$(ns nat)" addr add "$NAT_WAN_IP/24" dev wan
  ip -n "$(ns nat)" link set lan up
  ip -n "$(ns nat)" link set wan up
  ip -n "$(ns nat)" route add default via "$PUB_WAN_IP"
  ip netns exec "$(ns nat)" sysctl -qw net.ipv4.ip_forward=1
  # Short UDP conntrack timeouts make --lifetime discovery testable in seconds.
  if [ -n "${RPN_LAB_UDP_TIMEOUT:-}" ]; then
    ip netns exec "$(ns nat)" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$RPN_LAB_UDP_TIMEOUT" \
      net.netfilter.nf_conntrack_udp_timeout_stream="$RPN_LAB_UDP_TIMEOUT"
  fi

  ip -n "$(ns pub)" addr add "$PUB_WAN_IP/24" dev wan
  ip -n "$(ns pub)" link set wan up
  # The server addresses live on the public namespace's loopback (no dummy driver needed).
  for a in $SERVER_IP1 $SERVER_IP2 $PLAIN_IP1 $PLAIN_IP2 $CLASSIC_IP1 $CLASSIC_IP2; do ip -n "$(ns pub)" addr add "$a/32" dev lo; done
  ip -n "$(ns nat)" route add 203.0.113.0/24 via "$PUB_WAN_IP"
  # Without NAT, the public side routes the client's own range back.
  [ "$t" = none ] && ip -n "$(ns pub)" route add 192.0.2.0/24 via "$NAT_WAN_IP"

  nft_rules "$t" >"$dir/rules.nft"
  ip netns exec "$(ns nat)" nft -f "$dir/rules.nft"

  start_coturn rfc5780 "$SERVER_IP1" "$SERVER_IP2"
  COTURN_EXTRA=--no-rfc5780 start_coturn plain1 "$PLAIN_IP1"
  COTURN_EXTRA=--no-rfc5780 start_coturn plain2 "$PLAIN_IP2"
  start_stund classic "$CLASSIC_IP1" "$CLASSIC_IP2"
  for a in $SERVER_IP1 $SERVER_IP2 $CLASSIC_IP1 $CLASSIC_IP2; do
    wait_listening "$a" "$STUN_PORT"
    wait_listening "$a" $((STUN_PORT + 1))
  done
  wait_listening "$PLAIN_IP1" "$STUN_PORT"
  wait_listening "$PLAIN_IP2" "$STUN_PORT"
  start_miniupnpd
  trap - EXIT
  status
}

status() {
  local dir="$STATE_ROOT/$ID"
  [ -f "$dir/topology" ] || { echo "no lab with id $ID"; return 1; }
  local t
  t=$(cat "$dir/topology")
  cat <<EOF
lab $ID: $t ($(describe "$t"))
  client namespace   $(ns cli)   address $CLIENT_IP
  NAT namespace      $(ns nat)   public address $NAT_WAN_IP
  public namespace   $(ns pub)
  RFC 5780 server    $SERVER_IP1:$STUN_PORT (other address $SERVER_IP2:$((STUN_PORT + 1)))
  plain servers      $PLAIN_IP1:$STUN_PORT  $PLAIN_IP2:$STUN_PORT (no RFC 5780)
  classic server     $CLASSIC_IP1:$STUN_PORT (stund, RFC 3489; changed address $CLASSIC_IP2:$((STUN_PORT + 1)))
try:
  ip netns exec $(ns cli) node bin/rtcprobe.js nat --server $SERVER_IP1
  ip netns exec $(ns cli) node bin/rtcprobe.js nat --server $CLASSIC_IP1
  ip netns exec $(ns cli) stun $CLASSIC_IP1
EOF
  if [ -f "$dir/portmap" ]; then
    local u p
    read -r u p <"$dir/portmap"
    echo "  port mapping       miniupnpd on $NAT_LAN_IP: UPnP IGD $u, NAT-PMP and PCP $p (UDP 5351)"
  fi
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  list)
    for t in "${TOPOLOGIES[@]}"; do printf '  %-12s %s\n' "$t" "$(describe "$t")"; done
    ;;
  up)
    parse_id "$@"
    [ ${#REST[@]} -eq 1 ] || die "usage: up <topology> [--id ID] [--portmap upnp,natpmp,pcp|none]"
    need_tools
    portmap_parse "${PORTMAP:-none}"
    if [ "$PM_UPNP" = yes ] || [ "$PM_NATPMP" = yes ]; then
      [ -x "$MINIUPNPD" ] || die "needs miniupnpd ($MINIUPNPD, Debian package miniupnpd)"
    fi
    [ -x "$STUND" ] || die "needs stund ($STUND, Debian package stun-server)"
    lab_up "${REST[0]}"
    ;;
  down)
    parse_id "$@"
    need_tools
    if [ "$ALL" = 1 ]; then
      for f in /run/netns/rpn-*-cli /run/netns/rpn-*-nat /run/netns/rpn-*-pub "$STATE_ROOT"/*; do
        [ -e "$f" ] || continue
        b=$(basename "$f"); b=${b#rpn-}; ID=${b%-*}
        [ -d "$f" ] && ID=$(basename "$f")
        lab_down
      done
    else
      lab_down
    fi
    ;;
  status)
    parse_id "$@"
    status
    ;;
  exec)
    parse_id "$@"
    [ ${#REST[@]} -gt 0 ] || die "usage: exec [--id ID] -- <command...>"
    exec ip netns exec "$(ns cli)" "${REST[@]}"
    ;;
  help|-h|--help)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *) die "unknown command \"$cmd\" (list, up, down, status, exec)" ;;
esac
