#!/bin/sh
# nat-scene.sh up|down [PREFIX]
# Three network namespaces joined by veth pairs, with real iptables NAT:
#
#   PREFIX-cli  10.201.1.2  fd00:201:1::2   (the "inside" host; also runs a published service)
#        |  veth
#   PREFIX-rtr  10.201.1.1 / 10.201.2.1     forwards; MASQUERADE out to srv (IPv4 and IPv6);
#        |  veth                            DNAT 10.201.2.1:8080 -> 10.201.1.2:80 and
#        |                                  [fd00:201:2::1]:8080 -> [fd00:201:1::2]:80 (port publishing),
#        |                                  REDIRECT 10.201.2.1:8081 -> its own port 81
#   PREFIX-srv  10.201.2.2  fd00:201:2::2   (the "outside"; no route back to 10.201.1.0/24)
#
# `down` removes everything `up` made; safe to run twice.
set -eu
cmd=${1:?usage: nat-scene.sh up|down [prefix]}
p=${2:-ntct}
cli=$p-cli rtr=$p-rtr srv=$p-srv

down() {
	for ns in $cli $rtr $srv; do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
	down
	ip netns add "$cli"; ip netns add "$rtr"; ip netns add "$srv"
	ip link add "${p}c0" netns "$cli" type veth peer name "${p}r0" netns "$rtr"
	ip link add "${p}s0" netns "$srv" type veth peer name "${p}r1" netns "$rtr"
	ip -n "$cli" addr add 10.201.1.2/24 dev "${p}c0"
	ip -n "$cli" addr add fd00:201:1::2/64 dev "${p}c0" nodad
	ip -n "$rtr" addr add 10.201.1.1/24 dev "${p}r0"
	ip -n "$rtr" addr add fd00:201:1::1/64 dev "${p}r0" nodad
	ip -n "$rtr" addr add 10.201.2.1/24 dev "${p}r1"
	ip -n "$rtr" addr add fd00:201:2::1/64 dev "${p}r1" nodad
	ip -n "$srv" addr add 10.201.2.2/24 dev "${p}s0"
	ip -n "$srv" addr add fd00:201:2::2/64 dev "${p}s0" nodad
	for ns in $cli $rtr $srv; do ip -n "$ns" link set lo up; done
	ip -n "$cli" link set "${p}c0" up
	ip -n "$rtr" link set "${p}r0" up
	ip -n "$rtr" link set "${p}r1" up
	ip -n "$srv" link set "${p}s0" up
	ip -n "$cli" route add default via 10.201.1.1
	ip -n "$cli" -6 route add default via fd00:201:1::1
	ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$rtr" sysctl -qw net.ipv6.conf.all.forwarding=1
	# Ping sockets (ICMP echo with a kernel-assigned id, as ping uses them) for any group.
	ip netns exec "$cli" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
	# Short-connection churn reuses source ports quickly; let the router keep up.
	ip netns exec "$rtr" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=120 2>/dev/null || true
	# --random-fully: translated ports differ from the originals, so a wrong answer shows.
	ip netns exec "$rtr" iptables -t nat -A POSTROUTING -o "${p}r1" -j MASQUERADE --random-fully
	ip netns exec "$rtr" ip6tables -t nat -A POSTROUTING -o "${p}r1" -j MASQUERADE
	ip netns exec "$rtr" iptables -t nat -A PREROUTING -i "${p}r1" -d 10.201.2.1 -p tcp --dport 8080 \
		-j DNAT --to-destination 10.201.1.2:80
	ip netns exec "$rtr" ip6tables -t nat -A PREROUTING -i "${p}r1" -d fd00:201:2::1 -p tcp --dport 8080 \
		-j DNAT --to-destination '[fd00:201:1::2]:80'
	ip netns exec "$rtr" iptables -t nat -A PREROUTING -i "${p}r1" -d 10.201.2.1 -p udp --dport 8053 \
		-j DNAT --to-destination 10.201.1.2:53
	# Published on the router itself: 10.201.2.1:8081 -> its own port 81 (delivered locally: LOCAL_IN).
	ip netns exec "$rtr" iptables -t nat -A PREROUTING -i "${p}r1" -d 10.201.2.1 -p tcp --dport 8081 \
		-j REDIRECT --to-ports 81
}

case $cmd in
up) up ;;
down) down ;;
*) echo "usage: nat-scene.sh up|down [prefix]" >&2; exit 2 ;;
esac
