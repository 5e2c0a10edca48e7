#!/bin/bash
W=$(pgrep -P $(cat /tmp/s15/rig/gw.pid))
for r in 1 2 3; do for port in "$@"; do
 read u1 s1 < <(awk '{print $14, $15}' /proc/$W/stat)
 out=$(wrk -t1 -c32 -d4s "http://127.0.0.1:$port/bench/res50/12345?q=1")
 read u2 s2 < <(awk '{print $14, $15}' /proc/$W/stat)
 n=$(echo "$out" | awk '/requests in/{print $1}')
 python3 -c "print($port, 'user_us=%.2f sys_us=%.2f' % (($u2-$u1)*1e4/$n, ($s2-$s1)*1e4/$n))"
done; done
