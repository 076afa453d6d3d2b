#!/bin/sh
# greet - an external executable plugin of dmt (see docs/plugins.md).
# The values arrive as DMT_VAR_<name> environment variables (used here) and
# as one JSON document on stdin (read only as a fallback for `who`).
set -eu

# DMT_VAR_<name> keeps the variable's name as declared (DMT_VAR_who); the
# upper-case spelling is accepted too.
who=${DMT_VAR_who:-${DMT_VAR_WHO:-}}
shout=${DMT_VAR_shout:-${DMT_VAR_SHOUT:-false}}
if [ -z "$who" ]; then
    # Fallback: take "who" from the JSON on stdin (plain strings only).
    who=$(sed -n 's/.*"who"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
fi
if [ -z "$who" ]; then
    echo "greet: the variable 'who' is empty" >&2
    exit 2
fi

greeting="Hello, $who!"
case $shout in
true | 1) greeting=$(printf '%s' "$greeting" | tr '[:lower:]' '[:upper:]') ;;
esac

echo "$greeting"
if [ -n "${DMT_OUTPUT-}" ]; then
    # One line key=value per output; a newline would end the value.
    printf 'greeting=%s\n' "$(printf '%s' "$greeting" | tr '\n' ' ')" >>"$DMT_OUTPUT"
fi
