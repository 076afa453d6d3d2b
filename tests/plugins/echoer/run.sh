#!/bin/sh
# echoer - test plugin: copies its stdin (the values JSON) to stdout, shows
# its argv (which must hold no value) and records out=$DMT_VAR_message.
set -eu
cat
echo
echo "argc=$#"
printf 'out=%s\n' "${DMT_VAR_message-}" >>"$DMT_OUTPUT"
