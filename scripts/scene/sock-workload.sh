#!/usr/bin/env bash
# Socket workloads that log their own ground truth, one line per connection:
#   role pid starttime_ticks local_ip local_port remote_ip remote_port boot_ns
# (starttime_ticks: /proc/self/stat field 22; boot_ns: CLOCK_BOOTTIME at connect/accept.)
#
# Usage: sock-workload.sh server  PORT COUNT LOG            TCP: accept COUNT connections
#        sock-workload.sh connect HOST PORT COUNT LOG       COUNT child processes, each connects and
#                                                           exits at once (os._exit, socket left open)
#        sock-workload.sh reuse   HOST PORT LOG             two processes with the SAME pid connect
#                                                           (the second pid forced via ns_last_pid)
#        sock-workload.sh udpserver PORT COUNT LOG          answer COUNT datagrams
#        sock-workload.sh udpquery  HOST PORT LOG           one process sends one datagram, reads the reply
set -euo pipefail
# Inside a container without python: NT_PROC=/mnt/host/proc and run sock-workload.py
# with the host's loader (see Tests/CaptureTests/SocketNATCaptureTests.swift).
exec /usr/bin/python3 "$(dirname "$0")/sock-workload.py" "$@"
