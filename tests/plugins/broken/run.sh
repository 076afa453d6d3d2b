#!/bin/sh
echo "broken must never run" >&2
exit 1
