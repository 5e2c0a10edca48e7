#!/usr/bin/env bash
# make check-style (and make test): nginx's conventions in the C sources,
# and the core's independence from nginx.
#
#   - at most 80 columns, no tab, no trailing blank, no "//" comment line;
#   - src/, openapi/ and ratelimit/ include no nginx header, so that they
#     build, are unit-tested and fuzzed without nginx.
#
# Prints one line per offence and exits 1 if there is any.

set -u
cd "$(dirname "$0")/.."

files=$(ls src/*.[ch] openapi/*.[ch] ratelimit/*.[ch] ngx_module/*.[ch] \
           tests/unit/*.[ch] tests/fuzz/*.[ch] tests/integration/*.c \
           bench/*.c 2>/dev/null)

bad=$(awk '
    length($0) > 80        { print FILENAME ":" FNR ": over 80 columns" }
    /\t/                   { print FILENAME ":" FNR ": tab" }
    /[ \t]$/               { print FILENAME ":" FNR ": trailing blank" }
    /^[ \t]*\/\//          { print FILENAME ":" FNR ": // comment" }
' $files)

core=$(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]ngx_' \
           src/*.[ch] openapi/*.[ch] ratelimit/*.[ch] 2>/dev/null \
       | sed 's/$/: nginx header in the core/')

out=$(printf '%s\n%s\n' "$bad" "$core" | sed '/^$/d')

if [ -n "$out" ]; then
    echo "$out"
    echo "style: $(echo "$out" | wc -l) offences"
    exit 1
fi

echo "style: $(echo "$files" | wc -w) files, no offence"
